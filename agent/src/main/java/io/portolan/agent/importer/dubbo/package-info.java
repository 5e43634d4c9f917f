/**
 * {@code portolan agent --import dubbo}: Apache Dubbo's etcd3 registry keys (interface level under {@code /dubbo/},
 * application level under {@code /services/}) served as portolan services, read-only, through the registry's own
 * never-miss-an-event watch; imported instances live in the snapshot only.
 */
package io.portolan.agent.importer.dubbo;

package io.portolan.demo;

import org.apache.dubbo.config.ApplicationConfig;
import org.apache.dubbo.config.MetadataReportConfig;
import org.apache.dubbo.config.ProtocolConfig;
import org.apache.dubbo.config.RegistryConfig;
import org.apache.dubbo.config.ServiceConfig;
import org.apache.dubbo.config.bootstrap.DubboBootstrap;

import java.util.ArrayList;
import java.util.List;

/**
 * A Dubbo provider registering through Dubbo's own etcd3 registry:
 * {@code Provider REGISTRY_URL[,REGISTRY_URL...] APPLICATION HOST PROTOCOL:PORT...}, e.g.
 * {@code Provider etcd3://10.213.0.1:2379,etcd://10.213.0.1:2379?registry-type=service demo-provider 10.213.0.1 dubbo:20880 tri:50051}
 * (with the extension dubbo-registry-etcd3 3.2.0, {@code etcd3://} is its interface-level registry and {@code etcd://} with
 * {@code registry-type=service} its application-level service discovery). HOST is the address Dubbo binds and registers.
 * With Dubbo 2.7.23, {@code etcd3://...?registry-type=service} is application level and needs a metadata report: the
 * system property {@code demo.metadataReport} (e.g. {@code etcd://10.213.0.1:2379}) configures one. The answer names
 * HOST, so a caller sees which provider answered. Prints "PROVIDER READY" once exported and registered, then runs
 * until stopped (Dubbo's own shutdown hook unregisters on SIGTERM).
 */
public final class Provider {
    private Provider() {
    }

    public static void main(String[] args) throws Exception {
        List<RegistryConfig> registries = new ArrayList<>();
        for (String url : args[0].split(",")) {
            RegistryConfig registry = new RegistryConfig(url);
            registry.setId("registry" + registries.size());   // Dubbo 2.7 keeps one of two registries with the same address and no id
            registries.add(registry);
        }
        String application = args[1];
        String host = args[2];
        ApplicationConfig app = new ApplicationConfig(application);
        app.setQosEnable(false);
        List<ProtocolConfig> protocols = new ArrayList<>();
        for (int i = 3; i < args.length; i++) {
            String[] p = args[i].split(":");
            ProtocolConfig pc = new ProtocolConfig(p[0], Integer.parseInt(p[1]));
            pc.setHost(host);
            protocols.add(pc);
        }
        ServiceConfig<GreetingService> service = new ServiceConfig<>();
        service.setInterface(GreetingService.class);
        service.setRef(name -> "hello " + name + " from " + host);
        service.setVersion("1.0.0");
        service.setGroup("demo");
        service.setWeight(150);
        DubboBootstrap bootstrap = DubboBootstrap.getInstance();
        String metadataReport = System.getProperty("demo.metadataReport");
        if (metadataReport != null) {
            bootstrap.metadataReport(new MetadataReportConfig(metadataReport));
        }
        bootstrap.application(app)
                .registries(registries)
                .protocols(protocols)
                .service(service)
                .start();
        System.out.println("PROVIDER READY");
        System.out.flush();
        Thread.currentThread().join();
    }
}

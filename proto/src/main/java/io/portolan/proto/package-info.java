/**
 * The model every other module reads: {@link io.portolan.proto.Service}, {@link io.portolan.proto.Instance},
 * {@link io.portolan.proto.ClusterSnapshot}; validation of every name, address and port
 * ({@link io.portolan.proto.Validate}); the JSON codec ({@link io.portolan.proto.JsonCodec}) and the etcd
 * key layout ({@link io.portolan.proto.KeyLayout}). No I/O happens in this package.
 */
package io.portolan.proto;

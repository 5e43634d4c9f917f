/**
 * The model every other module reads: {@link io.portolan.proto.Service}, {@link io.portolan.proto.Instance},
 * {@link io.portolan.proto.ClusterSnapshot}, {@link io.portolan.proto.Registration}; validation of every
 * name, address and port ({@link io.portolan.proto.Validate}); the JSON codec ({@link io.portolan.proto.JsonCodec}),
 * the etcd key layout ({@link io.portolan.proto.KeyLayout}) and the VIP pool ({@link io.portolan.proto.Cidr}).
 * No I/O happens in this package.
 */
package io.portolan.proto;

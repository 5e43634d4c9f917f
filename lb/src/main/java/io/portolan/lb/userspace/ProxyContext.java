package io.portolan.lb.userspace;

import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.netty.channel.EventLoopGroup;

import java.time.Duration;

/** What every frontend of one data plane shares: settings, transport, event loops, meters, sources. */
final class ProxyContext {
    final UserspaceConfig config;
    final Transport transport;
    final EventLoopGroup boss;
    final EventLoopGroup workers;
    final LbMetrics metrics;
    final SourcePool sources;
    final CircuitBreakerConfig breakerConfig;
    final boolean splice;
    /** The native TCP relay's loops; null when TCP goes through Netty (see {@link UserspaceConfig#tcpIo()}). */
    final NativeLoop[] loops;

    ProxyContext(UserspaceConfig config, Transport transport, EventLoopGroup boss, EventLoopGroup workers, LbMetrics metrics,
                 NativeLoop[] loops) {
        this.loops = loops;
        this.config = config;
        this.transport = transport;
        this.boss = boss;
        this.workers = workers;
        this.metrics = metrics;
        this.sources = new SourcePool(config.sourceAddresses());
        this.splice = config.splice() && transport.epoll();
        UserspaceConfig.Eject e = config.eject();
        this.breakerConfig = CircuitBreakerConfig.custom()
                .slidingWindowType(CircuitBreakerConfig.SlidingWindowType.TIME_BASED)
                .slidingWindowSize((int) Math.max(1, e.window().toSeconds()))
                .minimumNumberOfCalls(e.minimumCalls())
                .failureRateThreshold(e.failureRatePercent())
                .waitDurationInOpenState(e.ejectFor())
                .permittedNumberOfCallsInHalfOpenState(1)
                .automaticTransitionFromOpenToHalfOpenEnabled(true)
                .slowCallDurationThreshold(Duration.ofDays(1))
                .build();
    }
}

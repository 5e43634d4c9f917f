package io.portolan.agent.health;

import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCalls;
import io.portolan.proto.Check;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * The probes, each one try against {@code address}, bounded by the check's timeout. None forks a
 * process or a shell. Sockets are closed with SO_LINGER 0 (a reset), so a check every second to
 * every instance leaves no TIME_WAIT behind on this host.
 */
final class Probes {
    private Probes() {
    }

    /** Null when the try succeeded, else why it failed (for the instance's {@code reason}). */
    static String probe(Check check, InetSocketAddress address, GrpcChannels grpc) {
        long timeout = check.timeout().toMillis();
        try {
            return switch (check.kind()) {
                case TCP -> tcp(address, timeout);
                case HTTP -> http(address, check.path(), timeout);
                case GRPC -> grpc.check(address, check.timeout());
            };
        } catch (SocketTimeoutException e) {
            return check.kind().lower() + " check timed out after " + Duration.ofMillis(timeout).toMillis() + " ms";
        } catch (IOException e) {
            return check.kind().lower() + " check: " + e.getMessage();
        }
    }

    private static Socket socket() throws IOException {
        Socket s = new Socket();
        s.setSoLinger(true, 0);
        s.setTcpNoDelay(true);
        return s;
    }

    static String tcp(InetSocketAddress address, long timeoutMs) throws IOException {
        try (Socket s = socket()) {
            s.connect(address, (int) timeoutMs);
        }
        return null;
    }

    /** GET PATH; healthy on a 2xx or 3xx status line. The whole exchange is bounded by the timeout. */
    static String http(InetSocketAddress address, String path, long timeoutMs) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        try (Socket s = socket()) {
            s.connect(address, (int) timeoutMs);
            String host = address.getAddress().getHostAddress();
            host = host.contains(":") ? "[" + host + "]" : host;
            OutputStream out = s.getOutputStream();
            out.write(("GET " + path + " HTTP/1.1\r\nHost: " + host + ":" + address.getPort()
                    + "\r\nUser-Agent: portolan-health\r\nAccept: */*\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            byte[] line = new byte[64];
            int n = 0;
            while (n < line.length) {
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (left <= 0) {
                    throw new SocketTimeoutException();
                }
                s.setSoTimeout((int) left);
                int b = in.read();
                if (b < 0 || b == '\n') {
                    break;
                }
                line[n++] = (byte) b;
            }
            String status = new String(line, 0, n, StandardCharsets.US_ASCII).strip();
            if (!status.startsWith("HTTP/") || status.indexOf(' ') < 0) {
                return "http check GET " + path + ": not an HTTP answer: '" + status + "'";
            }
            String code = status.substring(status.indexOf(' ') + 1);
            if (code.startsWith("2") || code.startsWith("3")) {
                return null;
            }
            return "http check GET " + path + ": " + code;
        }
    }

    /** gRPC's standard health service, {@code grpc.health.v1.Health/Check} with an empty service name. */
    interface GrpcChannels {
        String check(InetSocketAddress address, Duration timeout);
    }

    /** One plaintext channel per address, kept while its instance is checked. */
    static final class Grpc implements GrpcChannels {
        private static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
            @Override
            public InputStream stream(byte[] value) {
                return new ByteArrayInputStream(value);
            }

            @Override
            public byte[] parse(InputStream stream) {
                try {
                    return stream.readAllBytes();
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            }
        };
        static final MethodDescriptor<byte[], byte[]> CHECK = MethodDescriptor.<byte[], byte[]>newBuilder()
                .setType(MethodDescriptor.MethodType.UNARY)
                .setFullMethodName("grpc.health.v1.Health/Check")
                .setRequestMarshaller(BYTES)
                .setResponseMarshaller(BYTES)
                .build();

        private final java.util.Map<InetSocketAddress, ManagedChannel> channels = new java.util.concurrent.ConcurrentHashMap<>();

        @Override
        public String check(InetSocketAddress address, Duration timeout) {
            ManagedChannel ch = channels.computeIfAbsent(address, a -> NettyChannelBuilder.forAddress(a).usePlaintext().build());
            try {
                byte[] reply = ClientCalls.blockingUnaryCall(ch, CHECK,
                        CallOptions.DEFAULT.withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS), new byte[0]);
                int status = servingStatus(reply);
                return status == 1 ? null : "grpc check: status " + switch (status) {
                    case 0 -> "UNKNOWN";
                    case 2 -> "NOT_SERVING";
                    case 3 -> "SERVICE_UNKNOWN";
                    default -> String.valueOf(status);
                };
            } catch (StatusRuntimeException e) {
                return "grpc check: " + e.getStatus().getCode() + (e.getStatus().getDescription() == null ? ""
                        : " " + e.getStatus().getDescription());
            }
        }

        /** Field 1 (a varint) of a HealthCheckResponse; 0 (UNKNOWN) when absent. */
        static int servingStatus(byte[] m) {
            int i = 0;
            while (i < m.length) {
                int tag = m[i++] & 0xff;
                if (tag == 0x08) {
                    int v = 0;
                    for (int shift = 0; i < m.length && shift < 32; shift += 7) {
                        int b = m[i++] & 0xff;
                        v |= (b & 0x7f) << shift;
                        if ((b & 0x80) == 0) {
                            return v;
                        }
                    }
                    return 0;
                }
                return 0; // HealthCheckResponse has only field 1
            }
            return 0;
        }

        void forget(InetSocketAddress address) {
            ManagedChannel ch = channels.remove(address);
            if (ch != null) {
                ch.shutdownNow();
            }
        }

        void close() {
            channels.values().forEach(ManagedChannel::shutdownNow);
            channels.clear();
        }
    }
}

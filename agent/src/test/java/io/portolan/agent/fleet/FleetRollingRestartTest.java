package io.portolan.agent.fleet;

import io.portolan.agent.fleet.Fleet.Container;
import io.portolan.agent.fleet.Fleet.Host;
import io.portolan.agent.fleet.Fleet.Registration;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fleet scenario 4 (seed 000: the Dubbo graceful-shutdown order), ROUTED layout, 4 hosts, with
 * each data plane: service {@code web} has one instance in a container on each of hosts 1-3, each
 * container running {@code portolan register --agent http://GATEWAY:9191 --service web --port http:8080 -- SERVER}
 * (its own address, through its host's registration listener). A container on host 4 (no
 * instance) sends {@value #RATE} requests/s for {@value #SECONDS} s to {@code http://web:8080/},
 * a new connection and a name lookup per request, each bounded by 2 s, while every instance is
 * replaced in turn: a new container's {@code register --wait-listen 10s -- SERVER} is started and its
 * "registered" line awaited (printed once the server listens), then the old container's {@code register} gets SIGTERM (it deregisters, waits its
 * 2 s drain, then passes SIGTERM to the server). Not one request may fail.
 *
 * <p>The report printed (and put in a failure's message) places every failed request against each
 * replacement's moments: the new instance stored by its agent, its server listening, the old one
 * deregistered, its server's SIGTERM, its wrapper's exit. Without {@code --wait-listen} (the
 * instance registered before its server listens) 38 of 8,000 requests failed with nftables, all
 * refused between "stored" and "listening"; the userspace plane retried them elsewhere but ejected
 * each new instance for 10 s. Also checked: {@code --wait-listen 1s} around a command that never
 * listens stops it and registers nothing (exit 1).
 */
class FleetRollingRestartTest {
    static final int RATE = 200;
    static final int SECONDS = 40;
    /** When the first replacement starts, after the load has begun. */
    static final long LEAD_MS = 4000;
    /** Between one replacement's old instance exiting and the next one starting. */
    static final long GAP_MS = 2000;

    /** One replacement's moments, epoch ms (-1 when not seen). */
    static final class Step {
        final int host;
        String oldName;
        String newName;
        long started;
        long registered;
        long listening;
        long agentRegistered;
        long term;
        long agentDeregistered;
        long serverTerm;
        long exited;
        int exitCode;

        Step(int host) {
            this.host = host;
        }

        String describe(long t0) {
            return String.format("host%d: %s replaces %s: register started %s, agent stored it %s, 'registered' seen %s, new server listening %s;"
                            + " SIGTERM to old register %s, agent deregistered it %s, old server got SIGTERM %s, old register exited %s (code %d)",
                    host, newName, oldName, rel(started, t0), rel(agentRegistered, t0), rel(registered, t0), rel(listening, t0),
                    rel(term, t0), rel(agentDeregistered, t0), rel(serverTerm, t0), rel(exited, t0), exitCode);
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Fleet.Plane.class, names = {"NFTABLES", "USERSPACE"})
    void rollingRestartUnderLoad_noRequestFails(Fleet.Plane plane) {
        long t0 = System.nanoTime();
        try (Fleet fleet = Fleet.start(Fleet.options().hosts(4).layout(Fleet.Layout.ROUTED).plane(plane)
                .hostAgentFlags("--advertise-address", "{underlay}", "--register-listen", "{gateway}:9191"))) {
            long started = System.nanoTime();
            List<Registration> current = new ArrayList<>();
            List<String> names = new ArrayList<>();
            for (int i = 1; i <= 3; i++) {
                Container c = fleet.host(i).container("web" + i + "a");
                current.add(startInstance(fleet, c));
                names.add(c.name);
            }
            for (Registration r : current) {
                r.await();
                Workload.awaitListening(fleet, r);
            }
            Host h4 = fleet.host(4);
            Container load = h4.container("load");
            fleet.await("host4's agent serves the three instances of web", Duration.ofSeconds(30),
                    () -> String.valueOf(h4.admin("/v1/services")).replace(" ", "").matches("(?s).*\"name\":\"web\"[^}]*\"serving\":3.*"));
            fleet.await("all three instances answer http://web:8080/ from host4's container", Duration.ofSeconds(30),
                    () -> Workload.load(load, "http://web:8080/", 50, 1, Duration.ofSeconds(2)).answers().keySet().equals(Set.copyOf(names)));
            // --wait-listen: a command that never listens on the port is stopped, and nothing is registered
            Container idle = fleet.host(1).container("idle");
            Registration never = idle.startRegistration("http://" + idle.host.gateway + ":9191", "--service", "web", "--port", "http:8080",
                    "--wait-listen", "1s", "--", "sleep", "30");
            fleet.await("register --wait-listen 1s -- sleep 30 gives up", Duration.ofSeconds(30), () -> !never.alive());
            String neverLog = Sh.tail(never.log, 5000);
            assertEquals(1, never.process.exitValue(), neverLog);
            assertTrue(neverLog.contains("--wait-listen 1s: sleep does not listen on [http:8080/tcp]") && neverLog.contains("nothing registered")
                    && !neverLog.contains("registered web/"), neverLog);
            assertTrue(String.valueOf(fleet.host(1).admin("/v1/services")).replace(" ", "").contains("\"instances\":3,"), "still 3 instances");
            long ready = System.nanoTime();

            Workload.Load running = Workload.startLoad(load, "http://web:8080/", RATE, SECONDS, Duration.ofSeconds(2));
            long loadStart = System.currentTimeMillis();
            Fleet.sleep(LEAD_MS);
            List<Step> steps = new ArrayList<>();
            for (int i = 1; i <= 3; i++) {
                Host h = fleet.host(i);
                Step s = new Step(i);
                steps.add(s);
                Registration old = current.get(i - 1);
                s.oldName = "web" + i + "a";
                Container fresh = h.container("web" + i + "b");
                s.newName = fresh.name;
                s.started = System.currentTimeMillis();
                Registration next = startInstance(fleet, fresh).await();
                s.registered = System.currentTimeMillis();
                s.term = System.currentTimeMillis();
                s.exitCode = Sh.stop(old.process, Duration.ofSeconds(15));
                s.exited = System.currentTimeMillis();
                s.listening = Workload.awaitListening(fleet, next);
                s.serverTerm = match(old.log, Pattern.compile("(?m)^SIGTERM at (\\d+)"));
                s.agentRegistered = agentTime(h, "registered web/" + next.id + " ");
                s.agentDeregistered = agentTime(h, "deregistered web/" + old.id);
                current.set(i - 1, next);
                names.add(fresh.name);
                Fleet.sleep(GAP_MS);
            }
            long lastExit = steps.get(steps.size() - 1).exited;
            Workload.Result r = running.await();
            long loadStartSeen = r.start() > 0 ? r.start() : loadStart;

            StringBuilder report = new StringBuilder();
            report.append(plane).append(": ").append(r).append('\n');
            for (Step s : steps) {
                report.append("  ").append(s.describe(loadStartSeen)).append('\n');
            }
            List<Workload.Failure> failures = r.failures();
            for (Workload.Failure f : failures.subList(0, Math.min(60, failures.size()))) {
                report.append(String.format("  failed %s %s: %s%n", rel(f.t(), loadStartSeen), f.phase(), f.error()));
            }
            report.append("  answers per second:\n").append(r.timeline());
            System.out.printf("fleet scenario 4 (%s):%n%s", plane, report);

            assertTrue(lastExit + 2000 < loadStartSeen + SECONDS * 1000L,
                    "the rolling restart did not fit in the load's " + SECONDS + " s (machine too slow?)\n" + report);
            assertEquals(0, r.failed(), "failed requests during the rolling restart\n" + report);
            for (String n : names) {
                assertTrue(r.count(n) > 0, n + " answered\n" + report);
            }
            for (Step s : steps) {
                String d = s.describe(loadStartSeen);
                assertTrue(s.agentRegistered > 0 && s.listening > 0 && s.agentDeregistered > 0 && s.serverTerm > 0, "every moment seen: " + d);
                assertTrue(s.listening <= s.agentRegistered, "--wait-listen: the new server listened before its agent stored it: " + d);
                assertEquals(143, s.exitCode, "the old register exits with its server's 128+SIGTERM: " + d);
                assertTrue(s.serverTerm - s.agentDeregistered >= 1900, "the server got SIGTERM after the 2 s drain: " + d);
            }
            Set<String> want = new TreeSet<>(names.subList(3, 6));
            fleet.await("host4 serves the three new instances only", Duration.ofSeconds(10),
                    () -> String.valueOf(h4.admin("/v1/services")).replace(" ", "").matches("(?s).*\"name\":\"web\",[^}]*\"instances\":3,\"serving\":3.*"));
            Workload.Result after = Workload.load(load, "http://web:8080/", 50, 1, Duration.ofSeconds(2));
            assertEquals(want, after.answers().keySet(), after.toString());

            System.out.printf("fleet scenario 4 (%s): fleet up %d ms, instances ready %d ms, load and rolling restart %d ms%n", plane,
                    ms(started - t0), ms(ready - started), ms(System.nanoTime() - ready));
        }
        System.out.printf("fleet scenario 4 (%s): %d ms with teardown%n", plane, ms(System.nanoTime() - t0));
    }

    /**
     * {@code register --agent http://GATEWAY:9191 --service web --port http:8080 --wait-listen 10s -- SERVER}
     * in {@code c} (its own address): registered once the server listens.
     */
    static Registration startInstance(Fleet fleet, Container c) {
        List<String> args = new ArrayList<>(List.of("--service", "web", "--port", "http:8080", "--wait-listen", "10s", "--"));
        args.addAll(Workload.server(fleet, c.address, 8080, c.name));
        return c.startRegistration("http://" + c.host.gateway + ":9191", args.toArray(String[]::new));
    }

    static long match(Path log, Pattern p) {
        Matcher m = p.matcher(Sh.tail(log, 10_000_000));
        return m.find() ? Long.parseLong(m.group(1)) : -1;
    }

    private static final DateTimeFormatter LOG_TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSZ");

    /** When the host's agent logged a line containing {@code text} (its log's timestamp), or -1. */
    static long agentTime(Host h, String text) {
        for (String line : Sh.tail(h.agentLog(), 50_000_000).split("\n")) {
            if (line.contains(text)) {
                try {
                    return OffsetDateTime.parse(line.substring(0, line.indexOf(' ')), LOG_TIME).toInstant().toEpochMilli();
                } catch (RuntimeException e) {
                    return -1;
                }
            }
        }
        return -1;
    }

    static String rel(long t, long t0) {
        return t < 0 ? "(not seen)" : String.format("+%.3f s", (t - t0) / 1000.0);
    }

    static long ms(long nanos) {
        return nanos / 1_000_000;
    }
}

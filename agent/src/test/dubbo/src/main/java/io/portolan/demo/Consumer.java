package io.portolan.demo;

import org.apache.dubbo.config.ApplicationConfig;
import org.apache.dubbo.config.ReferenceConfig;
import org.apache.dubbo.config.RegistryConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A Dubbo consumer under bounded load: {@code Consumer URL CALLS INTERVAL_MS}, e.g.
 * {@code Consumer dubbo://demo-provider:20880 2000 10}: one reference to {@link GreetingService} at that direct URL (no
 * registry: Dubbo resolves the host name itself when it connects), or through Dubbo's own registry with
 * {@code registry:etcd3://10.213.0.1:2379} (the consumer subscribes and calls the providers' own addresses), then CALLS calls one after the other, one every
 * INTERVAL_MS, each bounded by Dubbo's timeout (the URL's {@code timeout}, default 1 s), the whole run by CALLS ×
 * (INTERVAL_MS + 2 s). Prints "CONSUMER READY HOST" after the first successful call (HOST: the provider that answered it) (the run counts from there), the
 * answers counted per provider, the failures with their times (ms from the start) and first messages, the first and last failure's time (-1: none),
 * and last
 * {@code CALLS ok=N failed=N}; exits 0 if it completed its calls, whatever failed.
 */
public final class Consumer {
    private Consumer() {
    }

    public static void main(String[] args) throws Exception {
        String url = args[0];
        int calls = Integer.parseInt(args[1]);
        long interval = Long.parseLong(args[2]);
        ApplicationConfig app = new ApplicationConfig("demo-consumer");
        app.setQosEnable(false);
        ReferenceConfig<GreetingService> ref = new ReferenceConfig<>();
        ref.setApplication(app);
        ref.setInterface(GreetingService.class);
        ref.setVersion("1.0.0");
        ref.setGroup("demo");
        if (url.startsWith("registry:")) {
            ref.setRegistry(new RegistryConfig(url.substring("registry:".length())));
        } else {
            ref.setUrl(url);
        }
        ref.setCheck(false);
        GreetingService greeting = ref.get();
        long readyBy = System.nanoTime() + 60_000_000_000L;
        String first;
        while (true) {
            try {
                first = greeting.greet("warm-up");
                break;
            } catch (RuntimeException e) {
                if (System.nanoTime() > readyBy) {
                    throw e;
                }
                Thread.sleep(200);
            }
        }
        System.out.println("CONSUMER READY " + first.substring(first.lastIndexOf(' ') + 1));
        System.out.flush();
        Map<String, Integer> answers = new TreeMap<>();
        List<String> failures = new ArrayList<>();
        int ok = 0;
        int failed = 0;
        long firstFailure = -1;
        long lastFailure = -1;
        long t0 = System.nanoTime();
        long deadline = t0 + calls * (interval + 2000) * 1_000_000L;
        int done = 0;
        for (long next = t0; done < calls && System.nanoTime() < deadline; done++) {
            try {
                String answer = greeting.greet("load");
                answers.merge(answer.substring(answer.lastIndexOf(' ') + 1), 1, Integer::sum);
                ok++;
            } catch (RuntimeException e) {
                failed++;
                lastFailure = (System.nanoTime() - t0) / 1_000_000;
                if (firstFailure < 0) {
                    firstFailure = lastFailure;
                }
                if (failures.size() < 20) {
                    Throwable root = e;
                    while (root.getCause() != null) {
                        root = root.getCause();
                    }
                    String m = String.valueOf(root.getMessage());
                    failures.add((System.nanoTime() - t0) / 1_000_000 + " ms: " + root.getClass().getSimpleName() + ": "
                            + m.substring(0, Math.min(300, m.length())));
                }
            }
            next += interval * 1_000_000L;
            long sleep = next - System.nanoTime();
            if (sleep > 0) {
                Thread.sleep(sleep / 1_000_000, (int) (sleep % 1_000_000));
            }
        }
        failed += calls - done;
        for (String f : failures) {
            System.out.println("FAILED " + f);
        }
        System.out.println("ANSWERS " + answers);
        System.out.println("FAILURES first=" + firstFailure + " last=" + lastFailure);
        System.out.println("CALLS ok=" + ok + " failed=" + failed + " ms=" + (System.nanoTime() - t0) / 1_000_000);
        System.out.flush();
        ref.destroy();
        System.exit(0);
    }
}

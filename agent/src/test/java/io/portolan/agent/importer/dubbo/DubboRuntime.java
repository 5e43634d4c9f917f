package io.portolan.agent.importer.dubbo;

import io.portolan.agent.fleet.Fleet;

import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A line of real Apache Dubbo for the tests and bench/dubbo, kept off the agent's classpath: one of the small Maven
 * projects under agent/src/test ({@code dubbo}: 3.2.19 with the etcd3 extension 3.2.0; {@code dubbo27}: 2.7.23 with
 * dubbo-registry-etcd3 2.7.23), its classpath resolved from Maven Central by {@code mvn dependency:build-classpath},
 * the demo sources (agent/src/test/dubbo/src/main/java, the same for both lines) compiled against it, and its
 * classes run in JVMs of their own ({@link #provider}, {@link #consumer}) inside fleet namespaces.
 */
public final class DubboRuntime implements AutoCloseable {
    /** The two lines shown. */
    public enum Line {
        V3_2("dubbo", List.of("--add-opens", "java.base/java.lang=ALL-UNNAMED")),
        V2_7("dubbo27", List.of("--add-opens", "java.base/java.lang=ALL-UNNAMED", "--add-opens", "java.base/java.math=ALL-UNNAMED"));

        final String project;
        /** Java 17 needs these: both lines define adaptive classes with javassist; 2.7's hessian-lite reads BigDecimal's fields. */
        final List<String> opens;

        Line(String project, List<String> opens) {
            this.project = project;
            this.opens = opens;
        }
    }

    public final Line line;
    public final Path work;
    public final String classpath;

    private DubboRuntime(Line line, Path work, String classpath) {
        this.line = line;
        this.work = work;
        this.classpath = classpath;
    }

    /** Resolves the line's classpath (online the first time: {@code mvn -ntp}) and compiles the demo sources against it. */
    public static DubboRuntime build(Line line) throws IOException, InterruptedException {
        Path project = findProject(line.project);
        Path sources = findProject("dubbo").resolve("src/main/java");
        Path work = Files.createTempDirectory("dubbo-" + line.project + "-");
        Path cpFile = work.resolve("classpath.txt");
        Process mvn = new ProcessBuilder("mvn", "-q", "-B", "-ntp", "-f", project.resolve("pom.xml").toString(), "dependency:build-classpath",
                "-Dmdep.outputFile=" + cpFile).redirectErrorStream(true).redirectOutput(work.resolve("mvn.log").toFile()).start();
        if (!mvn.waitFor(600, TimeUnit.SECONDS)) {
            mvn.destroyForcibly();
            throw new IOException("resolving the Dubbo " + line + " classpath took over 10 minutes");
        }
        if (mvn.exitValue() != 0) {
            throw new IOException("mvn dependency:build-classpath for " + project + ": " + Files.readString(work.resolve("mvn.log")));
        }
        String deps = Files.readString(cpFile).trim();
        Path classes = Files.createDirectories(work.resolve("classes"));
        List<String> args = new ArrayList<>(List.of("-nowarn", "-d", classes.toString(), "-cp", deps, "--release", "17"));
        try (Stream<Path> s = Files.walk(sources)) {
            s.filter(p -> p.toString().endsWith(".java")).forEach(p -> args.add(p.toString()));
        }
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        if (javac.run(null, null, null, args.toArray(new String[0])) != 0) {
            throw new IOException("javac of the Dubbo demo against " + line);
        }
        return new DubboRuntime(line, work, classes + File.pathSeparator + deps);
    }

    static Path findProject(String name) {
        for (Path p = Path.of(System.getProperty("user.dir")).toAbsolutePath(); p != null; p = p.getParent()) {
            for (Path c : List.of(p.resolve("src/test/" + name), p.resolve("agent/src/test/" + name))) {
                if (Files.isRegularFile(c.resolve("pom.xml"))) {
                    return c;
                }
            }
        }
        throw new IllegalStateException("no agent/src/test/" + name + "/pom.xml above " + System.getProperty("user.dir"));
    }

    List<String> java(List<String> props, String main, List<String> args) {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(line.opens);
        cmd.addAll(List.of("-Ddubbo.application.logger=jdk", "-Xmx192m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
        cmd.addAll(props);
        cmd.addAll(List.of("-cp", classpath, main));
        cmd.addAll(args);
        return cmd;
    }

    /**
     * {@code Provider REGISTRIES APPLICATION HOST PROTOCOL:PORT...} in {@code where} (output to {@code log}); it prints
     * "PROVIDER READY" once exported and registered. {@code props} are JVM options such as
     * {@code -Ddubbo.service.shutdown.wait=5000}.
     */
    public Process provider(Fleet.Netns where, Path log, List<String> props, String registries, String application, String host,
            String... protocols) {
        List<String> args = new ArrayList<>(List.of(registries, application, host));
        args.addAll(List.of(protocols));
        return where.spawn(log, java(props, "io.portolan.demo.Provider", args).toArray(String[]::new));
    }

    /** {@code Consumer URL CALLS INTERVAL_MS} in {@code where}: "CONSUMER READY ..." after its first call, "CALLS ok=N failed=N" at the end. */
    public Process consumer(Fleet.Netns where, Path log, String url, int calls, long intervalMillis) {
        return where.spawn(log, java(List.of(), "io.portolan.demo.Consumer", List.of(url, String.valueOf(calls), String.valueOf(intervalMillis)))
                .toArray(String[]::new));
    }

    @Override
    public void close() throws IOException {
        try (Stream<Path> s = Files.walk(work)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}

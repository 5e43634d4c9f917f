package io.portolan.lb.ipvs;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Compares text with src/test/resources/ipvs/NAME. Run with {@code -Dipvs.golden.update=true} to
 * rewrite the files after an intended change (then review the diff).
 */
final class Golden {
    private Golden() {
    }

    static void check(String name, String actual) throws IOException {
        Path src = Path.of("src/test/resources/ipvs", name);
        if (Boolean.getBoolean("ipvs.golden.update")) {
            Files.createDirectories(src.getParent());
            Files.writeString(src, actual, StandardCharsets.UTF_8);
            return;
        }
        try (var in = Golden.class.getResourceAsStream("/ipvs/" + name)) {
            if (in == null) {
                throw new AssertionError("no golden file ipvs/" + name + "; run once with -Dipvs.golden.update=true and review it. Actual:\n" + actual);
            }
            assertEquals(new String(in.readAllBytes(), StandardCharsets.UTF_8), actual, "golden file ipvs/" + name);
        }
    }
}

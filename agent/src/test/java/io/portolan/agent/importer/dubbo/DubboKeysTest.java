package io.portolan.agent.importer.dubbo;

import io.portolan.agent.config.AgentConfig;
import io.portolan.agent.testing.Cli;
import io.portolan.proto.ValidationException;
import org.junit.jupiter.api.Test;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reading Dubbo's keys without etcd: names, URLs, the logged form of a key, and the flags. */
class DubboKeysTest {

    @Test
    void applicationNames_becomeServiceNames() {
        assertEquals("demo-provider", ServiceNames.fromApplication("demo-provider"));
        assertEquals("demo-provider-v2", ServiceNames.fromApplication("Demo_Provider.v2"));
        assertEquals(63, ServiceNames.fromApplication("a".repeat(100)).length());
        assertEquals("-demo-", ServiceNames.fromApplication("_demo_"));
    }

    @Test
    void providerUrls_asDubboWritesThem() throws Exception {
        String url = "tri://[fd00::7]:50051/io.portolan.demo.GreetingService?application=Demo_App&group=g&interface=io.portolan.demo.GreetingService"
                + "&version=2.0&weight=7";
        DubboKeys.Endpoint e = DubboKeys.provider("/dubbo/", "/dubbo/io.portolan.demo.GreetingService/providers/"
                + URLEncoder.encode(url, StandardCharsets.UTF_8));
        assertEquals("demo-app", e.service());
        assertEquals("Demo_App", e.application());
        assertEquals("fd00:0:0:0:0:0:0:7", e.address().getHostAddress());
        assertEquals(50051, e.port());
        assertEquals("tri", e.protocol());
        assertEquals(7, e.weight());
        assertEquals("io.portolan.demo.GreetingService", e.iface());
        assertEquals("2.0", e.version());
        assertEquals("g", e.group());
        assertEquals("dubbo-fd00_0_0_0_0_0_0_7-50051-tri", DubboImporter.id(e));
        // Dubbo's other keys under the root are not providers
        assertNull(DubboKeys.provider("/dubbo/", "/dubbo/io.portolan.demo.GreetingService"));
        assertNull(DubboKeys.provider("/dubbo/", "/dubbo/io.portolan.demo.GreetingService/providers"));
        assertNull(DubboKeys.provider("/dubbo/", "/dubbo/io.portolan.demo.GreetingService/consumers/consumer%3A%2F%2F10.0.0.1%2Fx"));
        assertNull(DubboKeys.provider("/dubbo/", "/dubbo/config/dubbo/demo-provider.configurators"));
        // Dubbo 2.7.23's metadata service, registered at interface level on a port of its own: not the application's
        assertNull(DubboKeys.provider("/dubbo/", "/dubbo/org.apache.dubbo.metadata.MetadataService/providers/"
                + "dubbo%3A%2F%2F172.31.1.3%3A20881%2Forg.apache.dubbo.metadata.MetadataService%3Fapplication%3Ddemo-provider%26group%3Ddemo-provider"
                + "%26interface%3Dorg.apache.dubbo.metadata.MetadataService%26release%3D2.7.23%26version%3D1.0.0"));
        DubboKeys.BadKey raw = assertThrows(DubboKeys.BadKey.class,
                () -> DubboKeys.provider("/dubbo/", "/dubbo/x/providers/dubbo://10.0.0.1:20880/x?application=a"));
        assertTrue(raw.getMessage().contains("URL-encoded"), raw.getMessage());
        assertThrows(DubboKeys.BadKey.class, () -> DubboKeys.fromUrl("dubbo://10.0.0.1:20880/x?application=a&weight=-1", "x"));
        assertThrows(DubboKeys.BadKey.class, () -> DubboKeys.fromUrl("dubbo://10.0.0.1:20880/x?side=provider", "x"));
    }

    @Test
    void applicationInstances_withoutEndpoints_serveTheirPortAsDubbo() throws Exception {
        List<DubboKeys.Endpoint> l = DubboKeys.application("/services/app/10.0.0.1:20880",
                "{\"serviceName\":\"app\",\"host\":\"10.0.0.1\",\"port\":20880,\"enabled\":false,\"metadata\":{}}".getBytes(StandardCharsets.UTF_8));
        assertEquals(1, l.size());
        assertEquals("dubbo", l.get(0).protocol());
        assertEquals(0, l.get(0).weight(), "enabled=false drains it");
        assertNull(DubboKeys.application("/services/app", "123".getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void theLoggedFormOfAKey_neverCarriesCredentials() {
        assertEquals("/dubbo/x/providers/dubbo%3A%2F%2F***%4010.0.0.1%3A20880%2Fx%3Fpassword%40x",
                DubboKeys.display("/dubbo/x/providers/dubbo%3A%2F%2Fu%3Ap%40ss%4010.0.0.1%3A20880%2Fx%3Fpassword%40x"));
        assertEquals("/dubbo/x/providers/dubbo://***@10.0.0.1:20880/x", DubboKeys.display("/dubbo/x/providers/dubbo://u:p/w@10.0.0.1:20880/x"));
        assertEquals("/dubbo/x/providers/DUBBO%3a%2f%2f***%40h%ZZ", DubboKeys.display("/dubbo/x/providers/DUBBO%3a%2f%2fu%3apw%40h%ZZ"));
        String plain = "/dubbo/x/providers/dubbo%3A%2F%2F10.0.0.1%3A20880%2Fx%3Fapplication%3Da";
        assertEquals(plain, DubboKeys.display(plain));
        assertEquals("/services/a/10.0.0.1:20880", DubboKeys.display("/services/a/10.0.0.1:20880"));
    }

    @Test
    void flags_areCheckedNamingTheValue() throws Exception {
        ValidationException noEtcd = assertThrows(ValidationException.class, () -> AgentConfig.parse(new String[] {"--import", "dubbo",
                "--advertise-address", "10.0.0.1"}));
        assertTrue(noEtcd.getMessage().startsWith("--import 'dubbo': needs --etcd-endpoints"), noEtcd.getMessage());
        ValidationException other = assertThrows(ValidationException.class, () -> AgentConfig.parse(new String[] {"--import", "zookeeper",
                "--etcd-endpoints", "http://127.0.0.1:2379", "--advertise-address", "10.0.0.1"}));
        assertTrue(other.getMessage().startsWith("--import 'zookeeper'"), other.getMessage());
        ValidationException alone = assertThrows(ValidationException.class, () -> AgentConfig.parse(new String[] {"--dubbo-root", "dev",
                "--etcd-endpoints", "http://127.0.0.1:2379", "--advertise-address", "10.0.0.1"}));
        assertTrue(alone.getMessage().startsWith("--dubbo-root 'dev': only with --import dubbo"), alone.getMessage());
        ValidationException overlap = assertThrows(ValidationException.class, () -> AgentConfig.parse(new String[] {"--import", "dubbo",
                "--dubbo-root", "/services", "--etcd-endpoints", "http://127.0.0.1:2379", "--advertise-address", "10.0.0.1"}));
        assertTrue(overlap.getMessage().contains("overlap"), overlap.getMessage());
        assertEquals("/dev/", AgentConfig.parse(new String[] {"--import", "dubbo", "--dubbo-root", "/dev/",
                "--etcd-endpoints", "http://127.0.0.1:2379", "--advertise-address", "10.0.0.1"}).dubboImport().rootPrefix());
        assertNull(AgentConfig.parse(new String[] {"--etcd-endpoints", "http://127.0.0.1:2379", "--advertise-address", "10.0.0.1"}).dubboImport());

        Cli.Result r = Cli.run("agent", "--import", "dubbo", "--advertise-address", "10.0.0.1", "--admin-listen", "127.0.0.1:0");
        assertEquals(2, r.code(), r.output());
        assertTrue(r.output().contains("--import 'dubbo': needs --etcd-endpoints"), r.output());
    }
}

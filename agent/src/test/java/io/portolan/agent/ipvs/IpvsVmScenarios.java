package io.portolan.agent.ipvs;

/**
 * What {@link IpvsVmTest} runs in the test VM: one guest JVM, one boot, the scenarios one after
 * the other — {@link IpvsScenario} (one node) and {@link IpvsMeshScenario} (the routing mesh across
 * hosts) — each printing its own PASSED or FAILED line; the second runs even if the first failed.
 *
 * <p>Main: {@code IpvsVmScenarios [MESH_HOSTS]} (default 2). Exits 0 when both passed.
 */
public final class IpvsVmScenarios {
    private IpvsVmScenarios() {
    }

    public static void main(String[] args) {
        int hosts = args.length > 0 ? Integer.parseInt(args[0]) : 2;
        boolean node = IpvsScenario.runReported();
        boolean mesh = IpvsMeshScenario.runReported(hosts);
        System.out.println("IPVS VM SCENARIOS: node " + (node ? "passed" : "FAILED") + ", mesh " + (mesh ? "passed" : "FAILED"));
        System.out.flush();
        Runtime.getRuntime().halt(node && mesh ? 0 : 1);
    }
}

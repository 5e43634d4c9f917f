/** Benchmark mains run by {@code bench/lb/run.sh} with the module's test classpath; not shipped. */
package io.portolan.lb.bench;

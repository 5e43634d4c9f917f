package io.portolan.demo;

/** The demo provider's interface. */
public interface GreetingService {
    String greet(String name);
}

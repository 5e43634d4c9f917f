package io.portolan.agent.registry;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * Local deadlines by key (an instance's TTL kept by the agent instead of an etcd lease): both stores
 * use it, the embedded store for its leases and the etcd store for the instances it holds under the
 * host lease. A refresh ({@link #touch}) moves a deadline in O(1) and queues nothing; {@link #expired}
 * looks only at the queue's head. The queue is ordered by the deadline an entry had when it was
 * queued: an entry found at the head whose deadline has moved since is queued again at its new
 * deadline, so each live key is looked at about once per TTL, not once per tick, and a tick with
 * nothing due costs one peek. Thread-safe (one lock; every method is short).
 */
public final class Deadlines<K> {
    private static final class Entry<K> {
        final K key;
        /** The deadline (System.nanoTime()) in force. */
        long deadline;
        /** The deadline this entry was queued at (its place in the queue): never later than {@link #deadline}. */
        long queued;

        Entry(K key, long deadline) {
            this.key = key;
            this.deadline = deadline;
            this.queued = deadline;
        }
    }

    private final Map<K, Entry<K>> entries = new HashMap<>();
    private final PriorityQueue<Entry<K>> queue = new PriorityQueue<>((a, b) -> Long.signum(a.queued - b.queued)); // nanoTime order: by difference, as it may wrap
    /** Entries taken off the queue's head so far (what the work per tick is made of; tests). */
    private long examined;

    /** Sets {@code key}'s deadline (System.nanoTime() based), adding the key if absent. */
    public synchronized void set(K key, long deadline) {
        Entry<K> e = entries.get(key);
        if (e != null && deadline - e.queued >= 0) {
            e.deadline = deadline; // later than its place in the queue: found there, then queued again
            return;
        }
        // new, or earlier than its place: a fresh entry (the old one, if any, is skipped when it reaches the head)
        Entry<K> fresh = new Entry<>(key, deadline);
        entries.put(key, fresh);
        queue.add(fresh);
    }

    /** Moves {@code key}'s deadline to {@code deadline} if it has one; false when the key has none (expired, removed). */
    public synchronized boolean touch(K key, long deadline) {
        Entry<K> e = entries.get(key);
        if (e == null) {
            return false;
        }
        if (deadline - e.queued >= 0) {
            e.deadline = deadline;
        } else {
            set(key, deadline);
        }
        return true;
    }

    /** Forgets {@code key}'s deadline; false when it had none. */
    public synchronized boolean remove(K key) {
        return entries.remove(key) != null; // its queue entry is skipped when it reaches the head
    }

    public synchronized boolean contains(K key) {
        return entries.containsKey(key);
    }

    public synchronized int size() {
        return entries.size();
    }

    /** Removes and returns, in deadline order, the keys whose deadline is before {@code now}. */
    public synchronized List<K> expired(long now) {
        List<K> due = new ArrayList<>();
        Entry<K> head;
        while ((head = queue.peek()) != null && now - head.queued > 0) {
            queue.poll();
            examined++;
            if (entries.get(head.key) != head) {
                continue; // removed, or replaced by an entry with an earlier deadline
            }
            if (now - head.deadline > 0) {
                entries.remove(head.key);
                due.add(head.key);
            } else {
                head.queued = head.deadline; // refreshed since it was queued: back in line at its deadline
                queue.add(head);
            }
        }
        if (queue.size() > 2 * entries.size() + 1024) {
            // many removed keys still queued: drop them (linear, and at most once per as many removals)
            queue.removeIf(e -> entries.get(e.key) != e);
        }
        return due;
    }

    /** Entries taken off the queue's head so far (tests: the work is proportional to what is due, not to every key). */
    public synchronized long examined() {
        return examined;
    }
}

// The processors benchmark's peer: a small Kafka Streams application that counts plays per
// video per minute from the same play-events topic our view-counts processor reads, so the
// benchmark can set our records/s beside Kafka Streams' on the same machine, and compare the
// counts (a differential check). Built and run by bench/peer.ts.
//
// What it counts (docs/semantics.md "Plays"): a play is a play_start event, deduplicated by
// event_id; plays per (video_id, epoch-aligned half-open minute of event_time).
//
// Topology (the DSL, plus one fixed-key processor):
//   stream(topic, bytes)                          Confluent-framed Avro values
//   .processValues(decode + dedup, "seen-event-ids")
//        drops what is not a play_start, counts undecodable records as skipped, drops a
//        play_start whose event_id the partition's KeyValueStore has already seen, and sets the
//        record timestamp to event_time (what the windows are cut on)
//   .groupBy(video_id)                            repartition by video
//   .windowedBy(TimeWindows.ofSizeAndGrace(1 min, 24 h))
//   .count()
//   .toStream().foreach(keep the latest count per (video, minute))
//
// Deduplication is real, not assumed: duplicates of an event carry its viewer_id key, so they
// land in the same input partition and its task's store (a persistent, changelogged
// KeyValueStore of event_ids) sees them. The store is unbounded (fine for a benchmark-sized
// topic; a long-running application would use a windowed store with a retention instead).
//
// The end: told the number of records on the topic (--expected, or, without it, the topic's end
// minus beginning offsets, exact for a topic written without transactions), it stops once that
// many have been processed and the emitted counts add up to every play forwarded (so the
// repartition topic is drained and the caches flushed), prints one JSON line on stdout, deletes
// its internal topics, consumer group and state directory, and exits 0. With no progress for
// --idle-timeout-ms it stops anyway and says "incomplete": true.
//
// Times: "seconds" is from the first input record processed to the counts complete (every play
// counted and emitted); "input_seconds" to the last input record processed; "jvm_seconds" from
// JVM start (startup, topic creation, rebalance included) to the counts complete.
package dev.viewpulse.peer;

import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.AppInfoParser;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TopologyConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.WindowStore;

public final class PeerApp {
  static final String SEEN_STORE = "seen-event-ids";
  static final byte[] EMPTY = new byte[0];
  static final long MINUTE_MS = 60_000L;

  // ---- counters shared by the stream threads and the main thread ----
  /** Input records fully processed (decoded or skipped). */
  static final AtomicLong records = new AtomicLong();
  static final AtomicLong skipped = new AtomicLong();
  /** play_start copies whose event_id was already seen. */
  static final AtomicLong duplicates = new AtomicLong();
  /** Distinct play_start events forwarded to the windowed count. */
  static final AtomicLong plays = new AtomicLong();
  /** Sum of the latest emitted count of every (video, minute): equals plays when all are out. */
  static final AtomicLong emitted = new AtomicLong();
  static final AtomicLong firstNanos = new AtomicLong();
  static volatile long lastInputNanos;
  static final ConcurrentHashMap<WindowKey, Long> counts = new ConcurrentHashMap<>();

  record WindowKey(String video, long start) {}

  static final class Options {
    String brokers = envOr("VIEWPULSE_KAFKA_BROKERS", "127.0.0.1:9092").split(",")[0].trim();
    String topic = envOr("VIEWPULSE_TOPIC_PREFIX", "") + "play-events";
    long expected = -1;
    String out;
    String schema;
    String stateRoot = System.getProperty("java.io.tmpdir");
    int threads = 1;
    boolean dedup = true;
    long graceMs = 24 * 3_600_000L;
    long idleTimeoutMs = 60_000;
    long cacheBytes = 64L << 20;
    long commitMs = 1000;
    Properties extra = new Properties();
  }

  static String envOr(String name, String fallback) {
    String v = System.getenv(name);
    return v == null || v.isBlank() ? fallback : v;
  }

  static Options parse(String[] args) {
    Options o = new Options();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      String v = i + 1 < args.length ? args[i + 1] : null;
      switch (a) {
        case "--brokers" -> o.brokers = need(a, v);
        case "--topic" -> o.topic = need(a, v);
        case "--expected" -> o.expected = Long.parseLong(need(a, v));
        case "--out" -> o.out = need(a, v);
        case "--schema" -> o.schema = need(a, v);
        case "--state-root" -> o.stateRoot = need(a, v);
        case "--threads" -> o.threads = Integer.parseInt(need(a, v));
        case "--grace-ms" -> o.graceMs = Long.parseLong(need(a, v));
        case "--idle-timeout-ms" -> o.idleTimeoutMs = Long.parseLong(need(a, v));
        case "--cache-bytes" -> o.cacheBytes = Long.parseLong(need(a, v));
        case "--commit-ms" -> o.commitMs = Long.parseLong(need(a, v));
        case "--no-dedup" -> {
          o.dedup = false;
          continue;
        }
        case "--config" -> {
          String kv = need(a, v);
          int eq = kv.indexOf('=');
          if (eq <= 0) throw new IllegalArgumentException("--config wants key=value, got " + kv);
          o.extra.setProperty(kv.substring(0, eq), kv.substring(eq + 1));
        }
        default -> throw new IllegalArgumentException("unknown argument " + a);
      }
      i++;
    }
    if (o.schema == null) throw new IllegalArgumentException("--schema <PlayEvent.avsc> is required");
    return o;
  }

  static String need(String flag, String v) {
    if (v == null) throw new IllegalArgumentException(flag + " needs a value");
    return v;
  }

  /**
   * Decodes Confluent-framed Avro (magic 0, 4-byte schema id, Avro binary of PlayEvent.avsc),
   * keeps distinct play_start events and forwards their video_id, timestamped with event_time.
   */
  static final class DecodeDedup implements FixedKeyProcessor<byte[], byte[], String> {
    private final GenericDatumReader<GenericRecord> reader;
    private final int eventId;
    private final int eventType;
    private final int eventTime;
    private final int videoId;
    private final boolean dedup;
    private BinaryDecoder decoder;
    private GenericRecord reuse;
    private FixedKeyProcessorContext<byte[], String> context;
    private KeyValueStore<String, byte[]> seen;

    DecodeDedup(Schema schema, boolean dedup) {
      this.reader = new GenericDatumReader<>(schema);
      this.eventId = schema.getField("event_id").pos();
      this.eventType = schema.getField("event_type").pos();
      this.eventTime = schema.getField("event_time").pos();
      this.videoId = schema.getField("video_id").pos();
      this.dedup = dedup;
    }

    @Override
    public void init(FixedKeyProcessorContext<byte[], String> context) {
      this.context = context;
      if (dedup) this.seen = context.getStateStore(SEEN_STORE);
    }

    @Override
    public void process(FixedKeyRecord<byte[], byte[]> record) {
      firstNanos.compareAndSet(0, System.nanoTime());
      try {
        GenericRecord e = decode(record.value());
        if (e == null) {
          skipped.incrementAndGet();
          return;
        }
        if (!"play_start".equals(e.get(eventType).toString())) return;
        if (dedup) {
          String id = e.get(eventId).toString();
          if (seen.get(id) != null) {
            duplicates.incrementAndGet();
            return;
          }
          seen.put(id, EMPTY);
        }
        long t = (Long) e.get(eventTime);
        String video = e.get(videoId).toString();
        plays.incrementAndGet();
        context.forward(record.withValue(video).withTimestamp(t));
      } finally {
        // Counted last, so "records == expected" means every play is already forwarded.
        lastInputNanos = System.nanoTime();
        records.incrementAndGet();
      }
    }

    /** The event, or null when the bytes are not one framed PlayEvent exactly. */
    private GenericRecord decode(byte[] v) {
      if (v == null || v.length < 5 || v[0] != 0) return null;
      try {
        decoder = DecoderFactory.get().binaryDecoder(v, 5, v.length - 5, decoder);
        reuse = reader.read(reuse, decoder);
        if (!decoder.isEnd()) return null; // trailing bytes: not this schema
        return reuse;
      } catch (IOException | RuntimeException err) {
        reuse = null; // may be half filled
        return null;
      }
    }
  }

  static void emitted(String video, long start, Long count) {
    if (count == null) return;
    Long old = counts.put(new WindowKey(video, start), count);
    emitted.addAndGet(count - (old == null ? 0 : old));
  }

  static StreamsBuilder topology(Options o, Schema schema, Properties config) {
    // Built with the application's config (a bare StreamsBuilder makes a default one, and warns).
    StreamsBuilder b = new StreamsBuilder(new TopologyConfig(new StreamsConfig(config)));
    if (o.dedup) {
      b.addStateStore(
          Stores.keyValueStoreBuilder(
              Stores.persistentKeyValueStore(SEEN_STORE), Serdes.String(), Serdes.ByteArray()));
    }
    KStream<byte[], byte[]> in =
        b.stream(o.topic, Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()).withName("play-events"));
    KStream<byte[], String> starts =
        o.dedup
            ? in.processValues(() -> new DecodeDedup(schema, true), Named.as("decode-dedup"), SEEN_STORE)
            : in.processValues(() -> new DecodeDedup(schema, false), Named.as("decode"));
    starts
        .groupBy((viewer, video) -> video, Grouped.with("plays-by-video", Serdes.String(), Serdes.String()))
        .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(MINUTE_MS), Duration.ofMillis(o.graceMs)))
        .count(Materialized.<String, Long, WindowStore<Bytes, byte[]>>as("plays-per-video-minute"))
        .toStream(Named.as("minute-counts"))
        .foreach((w, c) -> emitted(w.key(), w.window().start(), c), Named.as("collect"));
    return b;
  }

  static final class TopicInfo {
    int partitions;
    long records;
  }

  /** Partitions, and end minus beginning offsets (= records for a topic without transactions). */
  static TopicInfo describe(Options o) throws Exception {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, o.brokers);
    try (Admin admin = Admin.create(p)) {
      TopicDescription d =
          admin.describeTopics(List.of(o.topic)).allTopicNames().get(30, TimeUnit.SECONDS).get(o.topic);
      Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
      Map<TopicPartition, OffsetSpec> earliest = new HashMap<>();
      for (TopicPartitionInfo x : d.partitions()) {
        latest.put(new TopicPartition(o.topic, x.partition()), OffsetSpec.latest());
        earliest.put(new TopicPartition(o.topic, x.partition()), OffsetSpec.earliest());
      }
      var end = admin.listOffsets(latest).all().get(30, TimeUnit.SECONDS);
      var begin = admin.listOffsets(earliest).all().get(30, TimeUnit.SECONDS);
      TopicInfo info = new TopicInfo();
      info.partitions = d.partitions().size();
      for (TopicPartition tp : latest.keySet()) info.records += end.get(tp).offset() - begin.get(tp).offset();
      return info;
    }
  }

  /** Deletes what the run left on the broker: its internal topics and its consumer group. */
  static void cleanUpBroker(Options o, String appId) {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, o.brokers);
    try (Admin admin = Admin.create(p)) {
      List<String> internal =
          admin.listTopics().names().get(30, TimeUnit.SECONDS).stream()
              .filter(t -> t.startsWith(appId + "-"))
              .toList();
      if (!internal.isEmpty()) admin.deleteTopics(internal).all().get(30, TimeUnit.SECONDS);
      admin.deleteConsumerGroups(List.of(appId)).all().get(30, TimeUnit.SECONDS);
    } catch (Exception err) {
      System.err.println("[peer] cleanup on the broker incomplete: " + err);
    }
  }

  static void deleteTree(Path root) {
    if (!Files.exists(root)) return;
    try (Stream<Path> s = Files.walk(root)) {
      for (Path f : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
    } catch (IOException err) {
      System.err.println("[peer] could not delete " + root + ": " + err);
    }
  }

  static double metricSum(KafkaStreams streams, String name) {
    double sum = 0;
    for (Map.Entry<MetricName, ? extends Metric> m : streams.metrics().entrySet()) {
      if (!m.getKey().name().equals(name)) continue;
      Object v = m.getValue().metricValue();
      if (v instanceof Number n && !Double.isNaN(n.doubleValue())) sum += n.doubleValue();
    }
    return sum;
  }

  static final String INCOMPLETE = "incomplete";

  /**
   * Waits until `expected` records are processed and every forwarded play is counted and
   * emitted. Returns null then, INCOMPLETE after `idleTimeoutMs` without progress, or why
   * Kafka Streams failed.
   */
  static String waitForEnd(
      KafkaStreams streams, AtomicReference<Throwable> failure, long expected, long idleTimeoutMs)
      throws InterruptedException {
    long lastProgress = System.nanoTime();
    long lastSeen = -1;
    long lastEmitted = -1;
    while (true) {
      Thread.sleep(20);
      long now = System.nanoTime();
      if (failure.get() != null) return "stream thread failed: " + failure.get();
      KafkaStreams.State state = streams.state();
      if (state == KafkaStreams.State.ERROR || state == KafkaStreams.State.NOT_RUNNING) {
        return "Kafka Streams stopped: " + state;
      }
      long r = records.get();
      long e = emitted.get();
      if (r >= expected && e == plays.get()) return null;
      if (r != lastSeen || e != lastEmitted) {
        lastSeen = r;
        lastEmitted = e;
        lastProgress = now;
      } else if (now - lastProgress > TimeUnit.MILLISECONDS.toNanos(idleTimeoutMs)) {
        System.err.printf(
            "[peer] no progress for %d ms: %d of %d records, %d of %d plays emitted%n",
            idleTimeoutMs, r, expected, e, plays.get());
        return INCOMPLETE;
      }
    }
  }

  public static void main(String[] args) throws Exception {
    long jvmStart = System.nanoTime();
    Options o;
    try {
      o = parse(args);
    } catch (IllegalArgumentException err) {
      System.err.println("[peer] " + err.getMessage());
      System.exit(2);
      return;
    }
    Schema schema = new Schema.Parser().parse(Files.readString(Paths.get(o.schema)));
    TopicInfo info = describe(o);
    long expected = o.expected >= 0 ? o.expected : info.records;

    String appId = "viewpulse-peer-kstreams-" + UUID.randomUUID();
    Path stateDir = Paths.get(o.stateRoot, appId);
    Files.createDirectories(stateDir);

    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, o.brokers);
    p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, o.threads);
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, o.commitMs);
    p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, o.cacheBytes);
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    p.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 10);
    p.put(StreamsConfig.producerPrefix(ProducerConfig.BATCH_SIZE_CONFIG), 256 * 1024);
    p.putAll(o.extra);

    AtomicReference<Throwable> failure = new AtomicReference<>();
    KafkaStreams streams = new KafkaStreams(topology(o, schema, p).build(p), p);
    streams.setUncaughtExceptionHandler(
        err -> {
          failure.compareAndSet(null, err);
          return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });

    streams.start();
    String outcome = waitForEnd(streams, failure, expected, o.idleTimeoutMs);
    boolean incomplete = INCOMPLETE.equals(outcome);
    if (incomplete) outcome = null;
    long doneNanos = System.nanoTime();
    double dropped = metricSum(streams, "dropped-records-total");
    // Leave the group on close (Kafka Streams stays in it by default), so it can be deleted.
    streams.close(
        CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
            .withTimeout(Duration.ofSeconds(30)));
    cleanUpBroker(o, appId);
    deleteTree(stateDir);
    if (outcome != null) {
      System.err.println("[peer] " + outcome);
      if (failure.get() != null) failure.get().printStackTrace();
      System.exit(1);
    }

    long first = firstNanos.get();
    double seconds = first == 0 ? 0 : (doneNanos - first) / 1e9;
    double inputSeconds = first == 0 ? 0 : (lastInputNanos - first) / 1e9;
    double jvmSeconds = (doneNanos - jvmStart) / 1e9;
    long n = records.get();

    List<Map.Entry<WindowKey, Long>> rows = new ArrayList<>();
    for (Map.Entry<WindowKey, Long> x : counts.entrySet()) if (x.getValue() != 0) rows.add(x);
    rows.sort(
        Comparator.comparing((Map.Entry<WindowKey, Long> x) -> x.getKey().video())
            .thenComparingLong(x -> x.getKey().start()));
    StringBuilder table = new StringBuilder(rows.size() * 48 + 2);
    table.append('[');
    for (int i = 0; i < rows.size(); i++) {
      if (i > 0) table.append(',');
      WindowKey k = rows.get(i).getKey();
      table.append('[').append(json(k.video())).append(',').append(k.start()).append(',');
      table.append(rows.get(i).getValue()).append(']');
    }
    table.append(']');

    StringBuilder line = new StringBuilder();
    line.append('{');
    field(line, "records", n).append(',');
    field(line, "expected", expected).append(',');
    field(line, "skipped", skipped.get()).append(',');
    field(line, "duplicates", duplicates.get()).append(',');
    field(line, "plays", plays.get()).append(',');
    field(line, "keys", rows.size()).append(',');
    field(line, "dropped", (long) dropped).append(',');
    field(line, "seconds", round3(seconds)).append(',');
    field(line, "input_seconds", round3(inputSeconds)).append(',');
    field(line, "jvm_seconds", round3(jvmSeconds)).append(',');
    field(line, "records_per_s", seconds > 0 ? Math.round(n / seconds) : 0).append(',');
    field(line, "threads", o.threads).append(',');
    field(line, "partitions", info.partitions).append(',');
    line.append("\"kafka_streams_version\":").append(json(AppInfoParser.getVersion())).append(',');
    line.append("\"dedup\":").append(json(o.dedup ? "event_id per input partition (KeyValueStore)" : "off"));
    line.append(',').append("\"incomplete\":").append(incomplete).append(',');
    if (o.out != null) {
      try (Writer w = Files.newBufferedWriter(Paths.get(o.out), StandardCharsets.UTF_8)) {
        w.write(table.toString());
        w.write('\n');
      }
      line.append("\"plays_file\":").append(json(o.out));
    } else {
      line.append("\"plays_by_video_minute\":").append(table);
    }
    line.append('}');
    System.out.println(line);
    System.out.flush();
    System.exit(0);
  }

  static double round3(double x) {
    return Math.round(x * 1000) / 1000.0;
  }

  static StringBuilder field(StringBuilder b, String name, Object value) {
    return b.append('"').append(name).append("\":").append(value);
  }

  static String json(String s) {
    StringBuilder b = new StringBuilder(s.length() + 2).append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '\t' -> b.append("\\t");
        default -> {
          if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
          else b.append(c);
        }
      }
    }
    return b.append('"').toString();
  }

  private PeerApp() {}
}

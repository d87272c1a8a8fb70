package agentflow.example;

import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Sends COUNT signed ticket.created events to agentflow's ingress (even ones as JSON, odd ones as
 * Avro single-object encoding), then reads the audit topic read_committed and decodes each
 * record by its fingerprint until every event was decided. Prints one JSON line.
 */
public final class Producer {
  private static String env(String name) {
    String value = System.getenv(name);
    if (value == null) throw new IllegalArgumentException("set " + name);
    return value;
  }

  /** Common named types first, then the event file, with one parser per event file. */
  static Schema loadEvent(File schemaDir, String file) throws IOException {
    Schema.Parser parser = new Schema.Parser();
    for (String common : List.of("agentflow.Actor", "agentflow.FieldChange",
        "agentflow.ApprovalDecision")) {
      parser.parse(new File(schemaDir, "common/" + common + ".avsc"));
    }
    return parser.parse(new File(schemaDir, "events/" + file));
  }

  /** Lowercase hex HMAC-SHA256 over key + "\n" + value; the secret is its UTF-8 bytes. */
  static String sign(String secret, byte[] key, byte[] value) throws Exception {
    Mac mac = Mac.getInstance("HmacSHA256");
    mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
    mac.update(key);
    mac.update((byte) '\n');
    byte[] digest = mac.doFinal(value);
    StringBuilder hex = new StringBuilder();
    for (byte b : digest) hex.append(String.format("%02x", b));
    return hex.toString();
  }

  static String json(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }

  public static void main(String[] args) throws Exception {
    String bootstrap = env("BOOTSTRAP"), runId = env("RUN_ID"), keyId = env("KEY_ID");
    String secret = env("SECRET");
    int count = Integer.parseInt(env("COUNT"));
    File schemaDir = new File(env("SCHEMA_DIR"));
    Schema ticket = loadEvent(schemaDir, "ticket.created.v1.avsc");
    Schema actorSchema = ticket.getField("actor").schema();
    Schema payloadSchema = ticket.getField("payload").schema();
    BinaryMessageEncoder<GenericRecord> encoder =
        new BinaryMessageEncoder<>(GenericData.get(), ticket);

    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);  // the default partitioner: murmur2
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
      for (int i = 0; i < count; i++) {
        String workflowId = "wf-" + runId + "-" + i, customer = "cust-" + i;
        long now = System.currentTimeMillis();
        byte[] value;
        String contentType;
        if (i % 2 == 0) {
          contentType = "application/json";
          value = ("{\"event_id\":" + json("evt-" + runId + "-" + i)
              + ",\"event_type\":\"ticket.created\",\"schema_version\":1,\"occurred_at\":" + now
              + ",\"source\":\"helpdesk\",\"tenant\":\"acme\",\"actor\":{\"id\":" + json(customer)
              + ",\"kind\":\"user\",\"roles\":[\"customer\"]},\"workflow_id\":" + json(workflowId)
              + ",\"causation_id\":null,\"payload\":{\"ticket_id\":" + json("T-" + i)
              + ",\"subject\":\"Password reset\",\"body\":\"I cannot log in.\",\"customer_id\":"
              + json(customer) + "}}").getBytes(StandardCharsets.UTF_8);
        } else {
          contentType = "application/avro";
          GenericRecord actor = new GenericData.Record(actorSchema);
          actor.put("id", customer);
          actor.put("kind", new GenericData.EnumSymbol(actorSchema.getField("kind").schema(),
              "user"));
          actor.put("roles", List.of("customer"));
          GenericRecord payload = new GenericData.Record(payloadSchema);
          payload.put("ticket_id", "T-" + i);
          payload.put("subject", "Password reset");
          payload.put("body", "I cannot log in.");
          payload.put("customer_id", customer);
          payload.put("tags", List.of());
          GenericRecord event = new GenericData.Record(ticket);
          event.put("event_id", "evt-" + runId + "-" + i);
          event.put("event_type", "ticket.created");
          event.put("schema_version", 1);
          event.put("occurred_at", now);
          event.put("source", "helpdesk");
          event.put("tenant", "acme");
          event.put("actor", actor);
          event.put("workflow_id", workflowId);
          event.put("payload", payload);
          ByteBuffer encoded = encoder.encode(event);  // C3 01, fingerprint, Avro body
          value = new byte[encoded.remaining()];
          encoded.get(value);
        }
        byte[] key = workflowId.getBytes(StandardCharsets.UTF_8);
        ProducerRecord<byte[], byte[]> record =
            new ProducerRecord<>(env("INGRESS_TOPIC"), key, value);
        record.headers().add("content-type", contentType.getBytes(StandardCharsets.UTF_8));
        record.headers().add("af-key-id", keyId.getBytes(StandardCharsets.UTF_8));
        record.headers().add("af-signature",
            sign(secret, key, value).getBytes(StandardCharsets.UTF_8));
        producer.send(record);
      }
      producer.flush();
    }

    // Read back what the engine decided: audit records, decoded by their fingerprint (each
    // version of the schema that a topic may hold: v3 now, v2 and v1 before the upgrades).
    Schema audit = new Schema.Parser().parse(new File(schemaDir, "internal/audit_record.v3.avsc"));
    BinaryMessageDecoder<GenericRecord> decoder =
        new BinaryMessageDecoder<>(GenericData.get(), audit);
    decoder.addSchema(new Schema.Parser().parse(new File(schemaDir, "internal/audit_record.v2.avsc")));
    decoder.addSchema(new Schema.Parser().parse(new File(schemaDir, "internal/audit_record.avsc")));
    Properties c = new Properties();
    c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    c.put(ConsumerConfig.GROUP_ID_CONFIG, "producer-example-java-" + runId);
    c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
    c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
    Map<String, Integer> decisions = new TreeMap<>();
    Map<String, Boolean> seen = new HashMap<>();
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(c)) {
      consumer.subscribe(List.of(env("AUDIT_TOPIC")));
      long deadline = System.currentTimeMillis() + 90_000;
      while (seen.size() < count && System.currentTimeMillis() < deadline) {
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
          GenericRecord decided = decoder.decode(r.value());
          String workflowId = decided.get("workflow_id").toString();
          if (!workflowId.startsWith("wf-" + runId + "-")) continue;
          if (seen.put(decided.get("event_id").toString(), true) == null) {
            decisions.merge(decided.get("decision").toString(), 1, Integer::sum);
          }
        }
      }
    }
    StringBuilder out = new StringBuilder("{\"sent\":" + count + ",\"decisions\":{");
    decisions.forEach((k, v) -> out.append(json(k)).append(':').append(v).append(','));
    if (!decisions.isEmpty()) out.setLength(out.length() - 1);
    System.out.println(out.append("}}"));
  }
}

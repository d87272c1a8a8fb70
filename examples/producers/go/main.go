// Sends COUNT signed ticket.created events to agentflow's ingress (even ones as JSON, odd ones
// as Avro single-object encoding), then reads the audit topic read_committed and decodes each
// record by its fingerprint until every event was decided. Prints one JSON line.
package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
)

func env(name string) string {
	value, ok := os.LookupEnv(name)
	if !ok {
		panic("set " + name)
	}
	return value
}

// loadSchema parses a schema file with a cache of its own, seeded with the common named types
// (v1 and v2 of an event type reuse record names, so one cache for all would clash). Logical
// types are removed first: hamba/avro keeps logicalType in the canonical form it fingerprints,
// the Avro spec (and agentflow, and the Java library) does not. Timestamps are then int64
// epoch milliseconds.
func loadSchema(dir, file string) avro.Schema {
	cache := &avro.SchemaCache{}
	for _, common := range []string{"agentflow.Actor", "agentflow.FieldChange", "agentflow.ApprovalDecision"} {
		mustParse(filepath.Join(dir, "common", common+".avsc"), cache)
	}
	return mustParse(filepath.Join(dir, file), cache)
}

func mustParse(path string, cache *avro.SchemaCache) avro.Schema {
	raw, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		panic(err)
	}
	data, _ := json.Marshal(withoutLogicalTypes(doc))
	schema, err := avro.ParseBytesWithCache(data, "", cache)
	if err != nil {
		panic(fmt.Sprintf("%s: %v", path, err))
	}
	return schema
}

func withoutLogicalTypes(node any) any {
	switch n := node.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, v := range n {
			if k != "logicalType" {
				out[k] = withoutLogicalTypes(v)
			}
		}
		return out
	case []any:
		out := make([]any, len(n))
		for i, v := range n {
			out[i] = withoutLogicalTypes(v)
		}
		return out
	}
	return node
}

// fingerprint is the CRC-64-AVRO of the schema's Parsing Canonical Form, as the 8 bytes the
// single-object encoding carries (little-endian).
func fingerprint(schema avro.Schema) []byte {
	fp, err := schema.FingerprintUsing(avro.CRC64Avro)
	if err != nil {
		panic(err)
	}
	out := make([]byte, 8)
	binary.LittleEndian.PutUint64(out, binary.BigEndian.Uint64(fp))
	return out
}

// sign is the lowercase hex HMAC-SHA256 over key + "\n" + value; the secret is its UTF-8 bytes.
func sign(secret string, key, value []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(key)
	mac.Write([]byte("\n"))
	mac.Write(value)
	return hex.EncodeToString(mac.Sum(nil))
}

func main() {
	dir, runID := env("SCHEMA_DIR"), env("RUN_ID")
	count, _ := strconv.Atoi(env("COUNT"))
	ticket := loadSchema(dir, "events/ticket.created.v1.avsc")
	ticketFingerprint := fingerprint(ticket)
	ctx := context.Background()

	// franz-go is idempotent with acks=all by default, and its default partitioner hashes
	// keys with murmur2 like the Java client.
	producer, err := kgo.NewClient(kgo.SeedBrokers(env("BOOTSTRAP")))
	if err != nil {
		panic(err)
	}
	for i := 0; i < count; i++ {
		workflowID, customer := fmt.Sprintf("wf-%s-%d", runID, i), fmt.Sprintf("cust-%d", i)
		event := map[string]any{
			"event_id": fmt.Sprintf("evt-%s-%d", runID, i), "event_type": "ticket.created",
			"schema_version": 1, "source": "helpdesk", "tenant": "acme",
			"actor":        map[string]any{"id": customer, "kind": "user", "roles": []string{"customer"}},
			"workflow_id":  workflowID,
			"causation_id": nil,
			"payload": map[string]any{
				"ticket_id": fmt.Sprintf("T-%d", i), "subject": "Password reset",
				"body": "I cannot log in.", "customer_id": customer, "customer_email": nil,
				"tags": []string{},
			},
		}
		var value []byte
		contentType := "application/json"
		event["occurred_at"] = time.Now().UnixMilli()
		if i%2 == 0 {
			value, err = json.Marshal(event)
		} else {
			contentType = "application/avro"
			var body []byte
			body, err = avro.Marshal(ticket, event)
			value = append(append([]byte{0xC3, 0x01}, ticketFingerprint...), body...)
		}
		if err != nil {
			panic(err)
		}
		key := []byte(workflowID)
		record := &kgo.Record{Topic: env("INGRESS_TOPIC"), Key: key, Value: value, Headers: []kgo.RecordHeader{
			{Key: "content-type", Value: []byte(contentType)},
			{Key: "af-key-id", Value: []byte(env("KEY_ID"))},
			{Key: "af-signature", Value: []byte(sign(env("SECRET"), key, value))},
		}}
		if err := producer.ProduceSync(ctx, record).FirstErr(); err != nil {
			panic(err)
		}
	}
	producer.Close()

	// Read back what the engine decided: audit records, decoded by their fingerprint (each
	// version of the schema that a topic may hold: v3 now, v2 and v1 before the upgrades).
	readers := map[string]avro.Schema{}
	for _, file := range []string{"internal/audit_record.v3.avsc", "internal/audit_record.v2.avsc", "internal/audit_record.avsc"} {
		schema := loadSchema(dir, file)
		readers[string(fingerprint(schema))] = schema
	}
	consumer, err := kgo.NewClient(
		kgo.SeedBrokers(env("BOOTSTRAP")),
		kgo.ConsumerGroup("producer-example-go-"+runID),
		kgo.ConsumeTopics(env("AUDIT_TOPIC")),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		panic(err)
	}
	defer consumer.Close()
	decisions, seen := map[string]int{}, map[string]bool{}
	deadline := time.Now().Add(90 * time.Second)
	for len(seen) < count && time.Now().Before(deadline) {
		pollCtx, cancel := context.WithTimeout(ctx, time.Second)
		fetches := consumer.PollFetches(pollCtx)
		cancel()
		fetches.EachRecord(func(r *kgo.Record) {
			schema, ok := readers[string(r.Value[2:10])]
			if !ok || r.Value[0] != 0xC3 || r.Value[1] != 0x01 {
				panic("not an audit record")
			}
			var decided map[string]any
			if err := avro.Unmarshal(schema, r.Value[10:], &decided); err != nil {
				panic(err)
			}
			if !strings.HasPrefix(decided["workflow_id"].(string), "wf-"+runID+"-") {
				return
			}
			eventID := decided["event_id"].(string)
			if !seen[eventID] {
				seen[eventID] = true
				decisions[decided["decision"].(string)]++
			}
		})
	}
	out, _ := json.Marshal(map[string]any{"sent": count, "decisions": decisions})
	fmt.Println(string(out))
}

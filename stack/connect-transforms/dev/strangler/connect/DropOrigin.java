package dev.strangler.connect;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.connect.connector.ConnectRecord;
import org.apache.kafka.connect.data.Field;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.transforms.Transformation;

/**
 * Drops the change events of rows written under given PostgreSQL replication
 * origins (Debezium's {@code source.origin}), and the tombstone that follows
 * a dropped delete of the same key: the writes a toolkit component made as a
 * copy (back-sync into a monolith) never reach the topic, so a change is on
 * a stream once, where it was made. Events without an origin, and records
 * that are not Debezium change events (heartbeats, schema changes), pass.
 */
public class DropOrigin<R extends ConnectRecord<R>> implements Transformation<R> {
    public static final String PREFIXES = "origin.prefixes";

    private static final ConfigDef CONFIG = new ConfigDef()
        .define(PREFIXES, ConfigDef.Type.LIST, ConfigDef.NO_DEFAULT_VALUE, ConfigDef.Importance.HIGH,
            "Replication origin name prefixes whose change events are dropped, comma-separated (strangler_backsync).");

    private List<String> prefixes = new ArrayList<>();
    /** Per topic, the key of the delete just dropped: its tombstone comes next. */
    private final Map<String, Object> droppedDeletes = new HashMap<>();

    @Override
    public void configure(Map<String, ?> props) {
        Object raw = props.get(PREFIXES);
        if (raw == null) throw new org.apache.kafka.common.config.ConfigException(PREFIXES, null, "name at least one replication origin prefix");
        prefixes = new ArrayList<>();
        for (String p : raw.toString().split(",")) {
            if (!p.trim().isEmpty()) prefixes.add(p.trim());
        }
        if (prefixes.isEmpty()) throw new org.apache.kafka.common.config.ConfigException(PREFIXES, raw, "name at least one replication origin prefix");
    }

    @Override
    public R apply(R record) {
        Object value = record.value();
        if (value == null) {
            Object key = droppedDeletes.remove(record.topic());
            return key != null && Objects.equals(key, record.key()) ? null : record;
        }
        if (!(value instanceof Struct)) return record;
        Struct envelope = (Struct) value;
        Field sourceField = envelope.schema().field("source");
        if (sourceField == null) return record;
        Object source = envelope.get(sourceField);
        if (!(source instanceof Struct)) return record;
        Field originField = ((Struct) source).schema().field("origin");
        if (originField == null) return record;
        Object origin = ((Struct) source).get(originField);
        if (!(origin instanceof String) || !matches((String) origin)) return record;
        Field op = envelope.schema().field("op");
        if (op != null && "d".equals(envelope.get(op))) droppedDeletes.put(record.topic(), record.key());
        return null;
    }

    private boolean matches(String origin) {
        for (String p : prefixes) {
            if (origin.startsWith(p)) return true;
        }
        return false;
    }

    @Override
    public ConfigDef config() {
        return CONFIG;
    }

    @Override
    public void close() {
        droppedDeletes.clear();
    }
}

// A small JMS client on ActiveMQ's own Java library, for Sluice's OpenWire tests: it produces
// messages the way users' producers do, and reads back what Sluice produced.
//
//   java Jms produce URL QUEUE COUNT PREFIX   text messages PREFIX-0..COUNT-1, plus one text and
//                                             one bytes message with every JMS field and a
//                                             property of each primitive type (PREFIX-full,
//                                             PREFIX-bytes)
//   java Jms produce URL QUEUE COUNT PREFIX plain   only the COUNT persistent text messages
//   java Jms consume URL QUEUE MAX WAIT_MS [SELECTOR]
//                                             prints one JSON line per message until MAX are
//                                             read or none came for WAIT_MS
//   java Jms stats URL QUEUE                  the queue's statistics from the broker's
//                                             statisticsBrokerPlugin: {"size":N,"inflight":N}
import javax.jms.*;
import org.apache.activemq.ActiveMQConnectionFactory;
import java.util.Base64;
import java.util.Collections;
import java.util.Enumeration;
import java.util.List;

public class Jms {
    public static void main(String[] a) throws Exception {
        Connection c = new ActiveMQConnectionFactory(a[1]).createConnection();
        c.start();
        Session s = c.createSession(false, Session.CLIENT_ACKNOWLEDGE);
        Queue q = s.createQueue(a[2]);
        if (a[0].equals("stats")) {
            stats(s, a[2]);
        } else if (a[0].equals("produce")) {
            produce(s, q, Integer.parseInt(a[3]), a[4], a.length > 5 && a[5].equals("plain"));
        } else {
            consume(s, q, Integer.parseInt(a[3]), Long.parseLong(a[4]), a.length > 5 ? a[5] : null);
        }
        c.close();
    }

    static void stats(Session s, String queue) throws Exception {
        Queue q = s.createQueue("ActiveMQ.Statistics.Destination." + queue);
        TemporaryQueue reply = s.createTemporaryQueue();
        MessageConsumer answers = s.createConsumer(reply);
        Message ask = s.createMessage();
        ask.setJMSReplyTo(reply);
        s.createProducer(q).send(ask);
        MapMessage m = (MapMessage) answers.receive(10000);
        if (m == null) {
            throw new java.lang.IllegalStateException("no statistics for queue " + queue);
        }
        System.out.println("{\"size\":" + m.getLong("size") + ",\"inflight\":" + m.getLong("inflightCount") + "}");
    }

    static void produce(Session s, Queue q, int n, String prefix, boolean plain) throws Exception {
        MessageProducer p = s.createProducer(q);
        for (int i = 0; i < n; i++) {
            TextMessage m = s.createTextMessage(prefix + "-" + i);
            m.setStringProperty("test", prefix);
            p.send(m);
        }
        if (plain) return;
        TextMessage full = s.createTextMessage(prefix + "-full \u00e9\u20ac\uD83D\uDE00");
        full.setJMSCorrelationID("corr-1");
        full.setJMSType("order.created");
        full.setJMSReplyTo(s.createQueue("replies"));
        full.setStringProperty("test", prefix);
        full.setBooleanProperty("flag", true);
        full.setByteProperty("b", (byte) -7);
        full.setShortProperty("s", (short) 300);
        full.setIntProperty("i", 70000);
        full.setLongProperty("l", 1099511627776L);
        full.setFloatProperty("f", 1.5f);
        full.setDoubleProperty("d", 2.25);
        full.setStringProperty("str", "caf\u00e9");
        p.send(full, DeliveryMode.NON_PERSISTENT, 7, 600000);
        BytesMessage bytes = s.createBytesMessage();
        bytes.writeBytes(new byte[] {0, 1, 2, (byte) 0xff, 'x'});
        bytes.setStringProperty("test", prefix + "-bytes");
        p.send(bytes);
    }

    static void consume(Session s, Queue q, int max, long waitMs, String selector) throws Exception {
        MessageConsumer consumer = selector == null ? s.createConsumer(q) : s.createConsumer(q, selector);
        for (int i = 0; i < max; i++) {
            Message m = consumer.receive(waitMs);
            if (m == null) break;
            StringBuilder out = new StringBuilder("{");
            field(out, "id", m.getJMSMessageID());
            if (m instanceof TextMessage) {
                field(out, "class", "text");
                field(out, "text", ((TextMessage) m).getText());
            } else if (m instanceof BytesMessage) {
                BytesMessage b = (BytesMessage) m;
                byte[] data = new byte[(int) b.getBodyLength()];
                b.readBytes(data);
                field(out, "class", "bytes");
                field(out, "base64", Base64.getEncoder().encodeToString(data));
            } else {
                field(out, "class", m.getClass().getSimpleName());
            }
            field(out, "persistent", String.valueOf(m.getJMSDeliveryMode() == DeliveryMode.PERSISTENT));
            field(out, "priority", String.valueOf(m.getJMSPriority()));
            field(out, "correlationId", m.getJMSCorrelationID());
            field(out, "type", m.getJMSType());
            field(out, "replyTo", m.getJMSReplyTo() == null ? null : m.getJMSReplyTo().toString());
            field(out, "redelivered", String.valueOf(m.getJMSRedelivered()));
            out.append("\"props\":{");
            List<String> names = Collections.list((Enumeration<String>) m.getPropertyNames());
            Collections.sort(names);
            for (String name : names) {
                Object v = m.getObjectProperty(name);
                field(out, name, (v == null ? "null" : v.getClass().getSimpleName()) + ":" + v);
            }
            if (!names.isEmpty()) out.setLength(out.length() - 1);
            out.append("}}");
            System.out.println(out);
            m.acknowledge();
        }
    }

    static void field(StringBuilder out, String name, String value) {
        out.append('"').append(name).append("\":");
        if (value == null) {
            out.append("null,");
            return;
        }
        out.append('"');
        for (char ch : value.toCharArray()) {
            if (ch == '"' || ch == '\\') out.append('\\').append(ch);
            else if (ch < 0x20) out.append(String.format("\\u%04x", (int) ch));
            else out.append(ch);
        }
        out.append("\",");
    }
}

// Prints the OpenWire bytes (version 12, loose encoding, no caching, no stack traces, size
// prefix) that ActiveMQ's own Java marshallers produce for the commands Sluice exchanges.
// The hex strings in src/wire/tests.rs came from this program; regenerate them with:
//   javac -cp '/usr/share/activemq/lib/*' -d /tmp/golden Golden.java
//   java -cp "/tmp/golden:/usr/share/activemq/lib/*" Golden
import org.apache.activemq.command.*;
import org.apache.activemq.openwire.OpenWireFormat;
import org.apache.activemq.util.ByteSequence;

public class Golden {
    static OpenWireFormat format() {
        OpenWireFormat f = new OpenWireFormat(12);
        f.setTightEncodingEnabled(false);
        f.setCacheEnabled(false);
        f.setStackTraceEnabled(false);
        f.setSizePrefixDisabled(false);
        return f;
    }

    static void print(String name, Object command) throws Exception {
        ByteSequence b = format().marshal(command);
        StringBuilder hex = new StringBuilder();
        for (int i = b.getOffset(); i < b.getOffset() + b.getLength(); i++) {
            hex.append(String.format("%02x", b.getData()[i]));
        }
        System.out.println(name + " " + hex);
    }

    public static void main(String[] args) throws Exception {
        ConnectionId conn = new ConnectionId("ID:c-1");
        ConnectionInfo ci = new ConnectionInfo(conn);
        ci.setClientId("cid");
        ci.setUserName("u");
        ci.setPassword("p");
        ci.setCommandId(1);
        ci.setResponseRequired(true);
        print("connection_info", ci);

        SessionId sid = new SessionId(conn, 1);
        SessionInfo si = new SessionInfo(sid);
        si.setCommandId(2);
        print("session_info", si);

        ActiveMQQueue queue = new ActiveMQQueue("orders");
        ConsumerId cid = new ConsumerId(sid, 3);
        ConsumerInfo cons = new ConsumerInfo(cid);
        cons.setDestination(queue);
        cons.setPrefetchSize(10);
        cons.setDispatchAsync(true);
        cons.setCommandId(3);
        cons.setResponseRequired(true);
        print("consumer_info", cons);

        ProducerId pid = new ProducerId(sid, 4);
        ProducerInfo pi = new ProducerInfo(pid);
        pi.setCommandId(4);
        print("producer_info", pi);

        MessageId mid = new MessageId(new ProducerId("ID:p-1:1:1"), 5);
        MessageAck ack = new MessageAck();
        ack.setAckType(MessageAck.INDIVIDUAL_ACK_TYPE);
        ack.setDestination(queue);
        ack.setConsumerId(cid);
        ack.setFirstMessageId(mid);
        ack.setLastMessageId(mid);
        ack.setMessageCount(1);
        ack.setCommandId(5);
        print("individual_ack", ack);

        ack.setAckType(MessageAck.POISON_ACK_TYPE);
        ack.setFirstMessageId(mid);
        ack.setLastMessageId(null);
        ack.setPoisonCause(new Throwable("delivery failed"));
        ack.setCommandId(6);
        print("poison_ack", ack);

        ActiveMQTextMessage text = new ActiveMQTextMessage();
        text.setText("h\u00e9llo");
        text.setIntProperty("n", 1);
        text.setMessageId(mid);
        text.setProducerId(mid.getProducerId());
        text.setDestination(queue);
        text.setPersistent(true);
        text.setTimestamp(1598827811958L);
        text.setPriority((byte) 4);
        text.setCorrelationId("corr");
        text.setJMSType("kind");
        text.setReplyTo(new ActiveMQTopic("replies"));
        text.setExpiration(1598827871958L);
        text.setBrokerInTime(1598827811958L);
        text.setBrokerOutTime(1598827811959L);
        text.setCommandId(7);
        text.setResponseRequired(true);
        print("text_message", text);

        ActiveMQBytesMessage bytes = new ActiveMQBytesMessage();
        bytes.setContent(new ByteSequence(new byte[] {1, 2, 3}));
        bytes.setMessageId(mid);
        bytes.setDestination(queue);
        bytes.setCommandId(8);
        print("bytes_message", bytes);

        MessageDispatch md = new MessageDispatch();
        md.setConsumerId(cid);
        md.setDestination(queue);
        md.setMessage(text);
        md.setRedeliveryCounter(2);
        md.setCommandId(9);
        print("message_dispatch", md);

        Response r = new Response();
        r.setCorrelationId(7);
        r.setCommandId(10);
        print("response", r);

        ExceptionResponse er = new ExceptionResponse(new SecurityException("User name [u] or password is invalid."));
        er.setCorrelationId(1);
        er.setCommandId(11);
        print("exception_response", er);

        KeepAliveInfo ka = new KeepAliveInfo();
        ka.setResponseRequired(true);
        print("keep_alive", ka);

        ShutdownInfo sh = new ShutdownInfo();
        sh.setCommandId(12);
        print("shutdown_info", sh);

        RemoveInfo rm = new RemoveInfo(cid);
        rm.setLastDeliveredSequenceId(-1);
        rm.setCommandId(13);
        print("remove_info", rm);

        BrokerInfo bi = new BrokerInfo();
        bi.setBrokerId(new BrokerId("ID:b-1"));
        bi.setBrokerName("sluice");
        bi.setBrokerURL("tcp://127.0.0.1:61616");
        bi.setCommandId(14);
        print("broker_info", bi);

        ConnectionError ce = new ConnectionError();
        ce.setException(new IllegalStateException("broker stopping"));
        ce.setConnectionId(conn);
        ce.setCommandId(15);
        print("connection_error", ce);

        ConsumerControl cc = new ConsumerControl();
        cc.setConsumerId(cid);
        cc.setDestination(queue);
        cc.setClose(true);
        cc.setPrefetch(5);
        cc.setCommandId(16);
        print("consumer_control", cc);

        ConnectionControl ctl = new ConnectionControl();
        ctl.setReconnectTo("tcp://127.0.0.1:61617");
        ctl.setCommandId(17);
        print("connection_control", ctl);

        ProducerAck pa = new ProducerAck(pid, 1024);
        pa.setCommandId(18);
        print("producer_ack", pa);

        ActiveMQTextMessage tx = new ActiveMQTextMessage();
        tx.setText("in a transaction");
        tx.setMessageId(mid);
        tx.setDestination(new ActiveMQTopic("prices"));
        tx.setTransactionId(new LocalTransactionId(conn, 9));
        tx.setGroupID("g-1");
        tx.setGroupSequence(3);
        tx.setRedeliveryCounter(2);
        tx.setCommandId(19);
        print("transacted_message", tx);

        WireFormatInfo wf = new WireFormatInfo();
        wf.setVersion(12);
        wf.setCacheEnabled(false);
        print("wire_format_info", wf);
    }
}

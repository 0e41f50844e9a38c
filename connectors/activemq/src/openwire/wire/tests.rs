//! Golden bytes from ActiveMQ's own Java marshallers (`tests/golden/Golden.java` prints them),
//! round trips, and a fuzz loop over the decoder.

use super::*;

use super::command::{BrokerInfo, ConsumerControl};
use super::data::TransactionId;
use bytes::{Bytes, BytesMut};
use tokio_util::codec::Decoder;

const CONNECTION_INFO: &str =
    "00000026030000000101017801000649443a632d31010003636964010001700100017500000001000000";
const SESSION_INFO: &str = "00000019040000000200017901000649443a632d310000000000000001";
const CONSUMER_INFO: &str = "00000043050000000301017a01000649443a632d31000000000000000100000000000000030001640100066f72646572730000000a000000000100000000000000000000000000";
const PRODUCER_INFO: &str =
    "00000028060000000400017b01000649443a632d310000000000000004000000000000000100000000000000";
const INDIVIDUAL_ACK: &str = "0000008f16000000050001640100066f726465727300017a01000649443a632d310000000000000001000000000000000304016e00017b01000649443a702d310000000000000001000000000000000100000000000000050000000000000000016e00017b01000649443a702d3100000000000000010000000000000001000000000000000500000000000000000000000100";
const POISON_ACK: &str = "0000008a16000000060001640100066f726465727300017a01000649443a632d310000000000000001000000000000000301016e00017b01000649443a702d3100000000000000010000000000000001000000000000000500000000000000000000000001010100136a6176612e6c616e672e5468726f7761626c6501000f64656c6976657279206661696c6564";
const TEXT_MESSAGE: &str = "000000d31c0000000701017b01000649443a702d310000000000000001000000000000000101640100066f72646572730000016e00017b01000649443a702d310000000000000001000000000000000100000000000000050000000000000000000000000000010004636f7272010000017441913ed60401650100077265706c69657300000174419054760100046b696e64010000000a0000000668c3a96c6c6f010000000c0000000100016e050000000100000000000000000000000000000000000000000000017441905476000001744190547700";
const BYTES_MESSAGE: &str = "0000008b1800000008000001640100066f72646572730000016e00017b01000649443a702d31000000000000000100000000000000010000000000000005000000000000000000000000000000000000000000000000000000000000000000000001000000030102030000000000000000000000000000000000000000000000000000000000000000000000000000";
const MESSAGE_DISPATCH: &str = "00000104150000000900017a01000649443a632d310000000000000001000000000000000301640100066f7264657273011c0000000701017b01000649443a702d310000000000000001000000000000000101640100066f72646572730000016e00017b01000649443a702d310000000000000001000000000000000100000000000000050000000000000000000000000000010004636f7272010000017441913ed60401650100077265706c69657300000174419054760100046b696e64010000000a0000000668c3a96c6c6f010000000c0000000100016e05000000010000000000000000000000000000000000000000000001744190547600000174419054770000000002";
const RESPONSE: &str = "0000000a1e0000000a0000000007";
const EXCEPTION_RESPONSE: &str = "000000511f0000000b00000000010101001b6a6176612e6c616e672e5365637572697479457863657074696f6e01002555736572206e616d65205b755d206f722070617373776f726420697320696e76616c69642e";
const KEEP_ALIVE: &str = "000000060a0000000001";
const SHUTDOWN_INFO: &str = "000000060b0000000c00";
const REMOVE_INFO: &str =
    "000000290c0000000d00017a01000649443a632d3100000000000000010000000000000003ffffffffffffffff";
const BROKER_INFO: &str = "00000042020000000e00017c01000649443a622d310100157463703a2f2f3132372e302e302e313a363136313600010006736c75696365000000000000000000000000000000";
const WIRE_FORMAT_INFO: &str =
    "00000026014163746976654d510000000c010000001400000001000c4361636865456e61626c65640100";
const CONNECTION_ERROR: &str = "00000046100000000f000101001f6a6176612e6c616e672e496c6c6567616c5374617465457863657074696f6e01000f62726f6b65722073746f7070696e67017801000649443a632d31";
const CONSUMER_CONTROL: &str = "0000003411000000100001640100066f726465727301017a01000649443a632d310000000000000001000000000000000300000005000000";
const CONNECTION_CONTROL: &str =
    "0000002812000000110000000000000100000100157463703a2f2f3132372e302e302e313a36313631370000";
const PRODUCER_ACK: &str =
    "00000025130000001200017b01000649443a632d310000000000000004000000000000000100000400";
const TRANSACTED_MESSAGE: &str = "000000b51c0000001300000165010006707269636573016f0000000000000009017801000649443a632d3100016e00017b01000649443a702d31000000000000000100000000000000010000000000000005000000000000000000010003672d3100000003000000000000000000000000000000000000000000010000001400000010696e2061207472616e73616374696f6e0000000000000002000000000000000000000000000000000000000000000000000000000000";

const DESTINATION_INFO: &str =
    "00000028080000001400017801000649443a632d31016601000849443a632d313a3100000000000000000000";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn decode(bytes: &[u8]) -> Command {
    let mut buf = BytesMut::from(bytes);
    let c = OpenWireCodec::default()
        .decode(&mut buf)
        .expect("decodes")
        .expect("a whole frame");
    assert!(buf.is_empty(), "the frame is consumed exactly");
    c
}

fn encode(c: &Command) -> Vec<u8> {
    let mut out = BytesMut::new();
    OpenWireCodec::default().encode_frame(c, &mut out).unwrap();
    out.to_vec()
}

/// Java's bytes decode to `expected`, and `expected` encodes to Java's bytes.
fn golden(java: &str, expected: Command) {
    let java = hex(java);
    assert_eq!(decode(&java), expected);
    assert_eq!(encode(&expected), java, "{expected:?}");
}

fn h(command_id: i32, response_required: bool) -> Header {
    Header {
        command_id,
        response_required,
    }
}

fn consumer() -> ConsumerId {
    ConsumerId {
        connection: "ID:c-1".into(),
        session: 1,
        value: 3,
    }
}

fn message_id() -> MessageId {
    MessageId {
        text_view: None,
        producer: ProducerId {
            connection: "ID:p-1".into(),
            value: 1,
            session: 1,
        },
        producer_sequence: 5,
        broker_sequence: 0,
    }
}

fn text_message() -> Message {
    let mut m = Message {
        header: h(7, true),
        class: types::TEXT_MESSAGE,
        producer_id: Some(message_id().producer),
        destination: Some(Destination::queue("orders")),
        message_id: Some(message_id()),
        correlation_id: Some("corr".into()),
        persistent: true,
        expiration: 1598827871958,
        priority: 4,
        reply_to: Some(Destination::parse("topic://replies")),
        timestamp: 1598827811958,
        jms_type: Some("kind".into()),
        content: Some(Message::text_content("h\u{e9}llo")),
        broker_in_time: 1598827811958,
        broker_out_time: 1598827811959,
        ..Message::default()
    };
    m.set_properties(&vec![("n".into(), Primitive::Int(1))])
        .unwrap();
    m
}

#[test]
fn connection_session_consumer_and_producer_info_match_java() {
    golden(
        CONNECTION_INFO,
        Command::ConnectionInfo(ConnectionInfo {
            header: h(1, true),
            connection_id: "ID:c-1".into(),
            client_id: Some("cid".into()),
            password: Some("p".into()),
            user_name: Some("u".into()),
            ..ConnectionInfo::default()
        }),
    );
    let session = SessionId {
        connection: "ID:c-1".into(),
        value: 1,
    };
    golden(SESSION_INFO, Command::SessionInfo(h(2, false), session));
    golden(
        CONSUMER_INFO,
        Command::ConsumerInfo(ConsumerInfo {
            header: h(3, true),
            consumer_id: consumer(),
            destination: Some(Destination::queue("orders")),
            prefetch_size: 10,
            dispatch_async: true,
            ..ConsumerInfo::default()
        }),
    );
    let producer = ProducerId {
        connection: "ID:c-1".into(),
        value: 4,
        session: 1,
    };
    golden(
        PRODUCER_INFO,
        Command::ProducerInfo(h(4, false), producer, None),
    );
}

#[test]
fn individual_and_poison_acks_match_java() {
    let ack = MessageAck {
        header: h(5, false),
        destination: Some(Destination::queue("orders")),
        consumer_id: Some(consumer()),
        ack_type: types::ack::INDIVIDUAL,
        first_message_id: Some(message_id()),
        last_message_id: Some(message_id()),
        message_count: 1,
        poison_cause: None,
    };
    golden(INDIVIDUAL_ACK, Command::MessageAck(ack.clone()));
    golden(
        POISON_ACK,
        Command::MessageAck(MessageAck {
            header: h(6, false),
            ack_type: types::ack::POISON,
            last_message_id: None,
            poison_cause: Some(Throwable {
                class: Some("java.lang.Throwable".into()),
                message: Some("delivery failed".into()),
            }),
            ..ack
        }),
    );
}

#[test]
fn text_and_bytes_messages_match_java() {
    golden(TEXT_MESSAGE, Command::Message(Box::new(text_message())));
    let Command::Message(m) = decode(&hex(TEXT_MESSAGE)) else {
        panic!("a message")
    };
    assert_eq!(&m.body().unwrap()[..], "h\u{e9}llo".as_bytes());
    assert_eq!(
        m.properties().unwrap(),
        vec![("n".into(), Primitive::Int(1))]
    );
    assert_eq!(
        m.message_id.as_ref().unwrap().to_string(),
        "ID:p-1:1:1:5",
        "JMSMessageID as Java prints it"
    );
    let bytes = Message {
        header: h(8, false),
        class: types::BYTES_MESSAGE,
        destination: Some(Destination::queue("orders")),
        message_id: Some(message_id()),
        content: Some(Bytes::from_static(&[1, 2, 3])),
        ..Message::default()
    };
    golden(BYTES_MESSAGE, Command::Message(Box::new(bytes.clone())));
    assert_eq!(&bytes.body().unwrap()[..], &[1, 2, 3]);
}

#[test]
fn message_dispatch_matches_java() {
    golden(
        MESSAGE_DISPATCH,
        Command::MessageDispatch(MessageDispatch {
            header: h(9, false),
            consumer_id: Some(consumer()),
            destination: Some(Destination::queue("orders")),
            message: Some(Box::new(text_message())),
            redelivery_counter: 2,
        }),
    );
}

#[test]
fn responses_keep_alive_shutdown_remove_and_broker_info_match_java() {
    golden(RESPONSE, Command::Response(h(10, false), 7));
    golden(
        EXCEPTION_RESPONSE,
        Command::ExceptionResponse(
            h(11, false),
            1,
            Some(Throwable {
                class: Some("java.lang.SecurityException".into()),
                message: Some("User name [u] or password is invalid.".into()),
            }),
        ),
    );
    golden(KEEP_ALIVE, Command::KeepAliveInfo(h(0, true)));
    golden(SHUTDOWN_INFO, Command::ShutdownInfo(h(12, false)));
    golden(
        REMOVE_INFO,
        Command::RemoveInfo(h(13, false), Data::ConsumerId(consumer()), -1),
    );
    golden(
        BROKER_INFO,
        Command::BrokerInfo(BrokerInfo {
            header: h(14, false),
            broker_id: Some("ID:b-1".into()),
            broker_url: Some("tcp://127.0.0.1:61616".into()),
            broker_name: Some("sluice".into()),
            ..BrokerInfo::default()
        }),
    );
    golden(
        WIRE_FORMAT_INFO,
        Command::WireFormatInfo(WireFormatInfo {
            version: 12,
            options: vec![("CacheEnabled".into(), Primitive::Bool(false))],
        }),
    );
}

#[test]
fn what_the_broker_sends_to_end_or_steer_a_client_matches_java() {
    golden(
        CONNECTION_ERROR,
        Command::ConnectionError(
            h(15, false),
            Some(Throwable {
                class: Some("java.lang.IllegalStateException".into()),
                message: Some("broker stopping".into()),
            }),
            Some("ID:c-1".into()),
        ),
    );
    golden(
        CONSUMER_CONTROL,
        Command::ConsumerControl(ConsumerControl {
            header: h(16, false),
            destination: Some(Destination::queue("orders")),
            close: true,
            consumer_id: Some(consumer()),
            prefetch: 5,
            ..ConsumerControl::default()
        }),
    );
    golden(
        CONNECTION_CONTROL,
        Command::ConnectionControl {
            header: h(17, false),
            close: false,
            exit: false,
            connected_brokers: Some(String::new()),
            reconnect_to: Some("tcp://127.0.0.1:61617".into()),
        },
    );
    let producer = ProducerId {
        connection: "ID:c-1".into(),
        value: 4,
        session: 1,
    };
    golden(
        PRODUCER_ACK,
        Command::ProducerAck(h(18, false), Some(producer), 1024),
    );
}

#[test]
fn a_transacted_grouped_redelivered_message_to_a_topic_matches_java() {
    let m = Message {
        header: h(19, false),
        class: types::TEXT_MESSAGE,
        destination: Some(Destination::parse("topic://prices")),
        transaction_id: Some(TransactionId::Local {
            value: 9,
            connection: "ID:c-1".into(),
        }),
        message_id: Some(message_id()),
        group_id: Some("g-1".into()),
        group_sequence: 3,
        redelivery_counter: 2,
        content: Some(Message::text_content("in a transaction")),
        ..Message::default()
    };
    golden(TRANSACTED_MESSAGE, Command::Message(Box::new(m)));
}

#[test]
fn compressed_bodies_inflate() {
    use std::io::Write;
    let deflate = |data: &[u8]| {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(data).unwrap();
        z.finish().unwrap()
    };
    let text = Message {
        class: types::TEXT_MESSAGE,
        compressed: true,
        content: Some(Bytes::from(deflate(&Message::text_content("zipped")))),
        ..Message::default()
    };
    assert_eq!(&text.body().unwrap()[..], b"zipped");
    let mut content = 3u32.to_be_bytes().to_vec();
    content.extend(deflate(&[7, 8, 9]));
    let bytes = Message {
        class: types::BYTES_MESSAGE,
        compressed: true,
        content: Some(Bytes::from(content)),
        ..Message::default()
    };
    assert_eq!(&bytes.body().unwrap()[..], &[7, 8, 9]);
    let broken = Message {
        compressed: true,
        content: Some(Bytes::from_static(b"\0\0\0\x03garbage")),
        ..bytes
    };
    assert!(broken.body().is_err());
}

#[test]
fn every_property_type_round_trips() {
    let map: PrimitiveMap = vec![
        ("null".into(), Primitive::Null),
        ("bool".into(), Primitive::Bool(true)),
        ("byte".into(), Primitive::Byte(-3)),
        ("char".into(), Primitive::Char(0x263a)),
        ("short".into(), Primitive::Short(-300)),
        ("int".into(), Primitive::Int(70000)),
        ("long".into(), Primitive::Long(1 << 40)),
        ("float".into(), Primitive::Float(1.5)),
        ("double".into(), Primitive::Double(-2.25)),
        (
            "string".into(),
            Primitive::String("caf\u{e9} \u{1F600} \0".into()),
        ),
        ("big".into(), Primitive::String("x".repeat(20000))),
        (
            "bytes".into(),
            Primitive::Bytes(Bytes::from_static(&[0, 255])),
        ),
        (
            "map".into(),
            Primitive::Map(vec![("k".into(), Primitive::Int(1))]),
        ),
        (
            "list".into(),
            Primitive::List(vec![Primitive::Int(1), Primitive::String("two".into())]),
        ),
    ];
    let mut m = Message {
        class: types::MESSAGE,
        ..Message::default()
    };
    m.set_properties(&map).unwrap();
    let back = decode(&encode(&Command::Message(Box::new(m))));
    let Command::Message(m) = back else {
        panic!("a message")
    };
    assert_eq!(m.properties().unwrap(), map);
}

#[test]
fn partial_frames_wait_and_oversized_frames_are_refused() {
    let whole = hex(KEEP_ALIVE);
    let mut codec = OpenWireCodec::default();
    let mut buf = BytesMut::from(&whole[..5]);
    assert!(codec.decode(&mut buf).unwrap().is_none());
    buf.extend_from_slice(&whole[5..]);
    assert!(codec.decode(&mut buf).unwrap().is_some());
    let mut huge = BytesMut::from(&[0x7f, 0xff, 0xff, 0xff, 1][..]);
    let err = codec.decode(&mut huge).unwrap_err();
    assert!(err.to_string().contains("larger than the limit"), "{err}");
    // An unknown command type is skipped whole, thanks to the size prefix.
    let mut unknown = BytesMut::from(&[0, 0, 0, 3, 200, 1, 2][..]);
    assert_eq!(
        codec.decode(&mut unknown).unwrap(),
        Some(Command::Unknown(200))
    );
    assert!(unknown.is_empty());
}

/// No input makes the decoder panic, loop or allocate beyond its frame: random frames and
/// every golden frame with random bytes changed or cut short.
#[test]
fn the_decoder_survives_any_input() {
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let goldens: Vec<Vec<u8>> = [
        CONNECTION_INFO,
        CONSUMER_INFO,
        INDIVIDUAL_ACK,
        POISON_ACK,
        TEXT_MESSAGE,
        BYTES_MESSAGE,
        MESSAGE_DISPATCH,
        EXCEPTION_RESPONSE,
        BROKER_INFO,
        WIRE_FORMAT_INFO,
        CONNECTION_ERROR,
        CONSUMER_CONTROL,
        CONNECTION_CONTROL,
        PRODUCER_ACK,
        TRANSACTED_MESSAGE,
    ]
    .iter()
    .map(|g| hex(g))
    .collect();
    let mut decoded = 0;
    for i in 0..200_000 {
        let mut frame = if i % 4 == 0 {
            let len = rng.usize(1..200);
            let mut f = (len as u32).to_be_bytes().to_vec();
            f.push(rng.u8(..));
            f.extend((1..len).map(|_| rng.u8(..)));
            f
        } else {
            let mut f = goldens[rng.usize(..goldens.len())].clone();
            for _ in 0..rng.usize(1..6) {
                let at = rng.usize(4..f.len());
                f[at] = rng.u8(..);
            }
            if rng.bool() {
                let cut = rng.usize(5..=f.len());
                f.truncate(cut);
                let size = (cut - 4) as u32;
                f[..4].copy_from_slice(&size.to_be_bytes());
            }
            f
        };
        let mut buf = BytesMut::from(&frame[..]);
        if let Ok(Some(Command::Message(m))) = OpenWireCodec::default().decode(&mut buf) {
            let _ = m.body();
            let _ = m.properties();
            decoded += 1;
        }
        frame.clear();
    }
    assert!(decoded > 0, "some mutations still decode");
}

#[test]
fn destination_info_matches_java() {
    golden(
        DESTINATION_INFO,
        Command::DestinationInfo {
            header: h(20, false),
            connection_id: "ID:c-1".into(),
            destination: Destination::parse("temp-queue://ID:c-1:1"),
            operation: 0,
        },
    );
}

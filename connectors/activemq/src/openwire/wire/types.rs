//! Data structure type bytes (`CommandTypes.java`).

pub const WIREFORMAT_INFO: u8 = 1;
pub const BROKER_INFO: u8 = 2;
pub const CONNECTION_INFO: u8 = 3;
pub const SESSION_INFO: u8 = 4;
pub const CONSUMER_INFO: u8 = 5;
pub const PRODUCER_INFO: u8 = 6;
pub const KEEP_ALIVE_INFO: u8 = 10;
pub const SHUTDOWN_INFO: u8 = 11;
pub const REMOVE_INFO: u8 = 12;
pub const CONTROL_COMMAND: u8 = 14;
pub const FLUSH_COMMAND: u8 = 15;
pub const CONNECTION_ERROR: u8 = 16;
pub const CONSUMER_CONTROL: u8 = 17;
pub const CONNECTION_CONTROL: u8 = 18;
pub const PRODUCER_ACK: u8 = 19;
pub const MESSAGE_DISPATCH: u8 = 21;
pub const MESSAGE_ACK: u8 = 22;
pub const MESSAGE: u8 = 23;
pub const BYTES_MESSAGE: u8 = 24;
pub const MAP_MESSAGE: u8 = 25;
pub const OBJECT_MESSAGE: u8 = 26;
pub const STREAM_MESSAGE: u8 = 27;
pub const TEXT_MESSAGE: u8 = 28;
pub const BLOB_MESSAGE: u8 = 29;
pub const RESPONSE: u8 = 30;
pub const EXCEPTION_RESPONSE: u8 = 31;
pub const QUEUE: u8 = 100;
pub const TOPIC: u8 = 101;
pub const TEMP_QUEUE: u8 = 102;
pub const TEMP_TOPIC: u8 = 103;
pub const MESSAGE_ID: u8 = 110;
pub const LOCAL_TRANSACTION_ID: u8 = 111;
pub const XA_TRANSACTION_ID: u8 = 112;
pub const CONNECTION_ID: u8 = 120;
pub const SESSION_ID: u8 = 121;
pub const CONSUMER_ID: u8 = 122;
pub const PRODUCER_ID: u8 = 123;
pub const BROKER_ID: u8 = 124;

/// The JMS message classes: they share one layout and differ in how `content` is read.
pub fn is_message(t: u8) -> bool {
    (MESSAGE..=BLOB_MESSAGE).contains(&t)
}

/// MessageAck types.
pub mod ack {
    pub const DELIVERED: u8 = 0;
    pub const POISON: u8 = 1;
    pub const STANDARD: u8 = 2;
    pub const REDELIVERED: u8 = 3;
    pub const INDIVIDUAL: u8 = 4;
}

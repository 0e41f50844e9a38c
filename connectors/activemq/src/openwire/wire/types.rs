//! Data structure type bytes (`CommandTypes.java`).

// The whole table, kept complete for reading against the Java source: some numbers Sluice
// never sends nor reads.
#![allow(dead_code)]

pub(crate) const WIREFORMAT_INFO: u8 = 1;
pub(crate) const BROKER_INFO: u8 = 2;
pub(crate) const CONNECTION_INFO: u8 = 3;
pub(crate) const SESSION_INFO: u8 = 4;
pub(crate) const CONSUMER_INFO: u8 = 5;
pub(crate) const PRODUCER_INFO: u8 = 6;
pub(crate) const DESTINATION_INFO: u8 = 8;
pub(crate) const KEEP_ALIVE_INFO: u8 = 10;
pub(crate) const SHUTDOWN_INFO: u8 = 11;
pub(crate) const REMOVE_INFO: u8 = 12;
pub(crate) const CONTROL_COMMAND: u8 = 14;
pub(crate) const FLUSH_COMMAND: u8 = 15;
pub(crate) const CONNECTION_ERROR: u8 = 16;
pub(crate) const CONSUMER_CONTROL: u8 = 17;
pub(crate) const CONNECTION_CONTROL: u8 = 18;
pub(crate) const PRODUCER_ACK: u8 = 19;
pub(crate) const MESSAGE_DISPATCH: u8 = 21;
pub(crate) const MESSAGE_ACK: u8 = 22;
pub(crate) const MESSAGE: u8 = 23;
pub(crate) const BYTES_MESSAGE: u8 = 24;
pub(crate) const MAP_MESSAGE: u8 = 25;
pub(crate) const OBJECT_MESSAGE: u8 = 26;
pub(crate) const STREAM_MESSAGE: u8 = 27;
pub(crate) const TEXT_MESSAGE: u8 = 28;
pub(crate) const BLOB_MESSAGE: u8 = 29;
pub(crate) const RESPONSE: u8 = 30;
pub(crate) const EXCEPTION_RESPONSE: u8 = 31;
pub(crate) const QUEUE: u8 = 100;
pub(crate) const TOPIC: u8 = 101;
pub(crate) const TEMP_QUEUE: u8 = 102;
pub(crate) const TEMP_TOPIC: u8 = 103;
pub(crate) const MESSAGE_ID: u8 = 110;
pub(crate) const LOCAL_TRANSACTION_ID: u8 = 111;
pub(crate) const XA_TRANSACTION_ID: u8 = 112;
pub(crate) const CONNECTION_ID: u8 = 120;
pub(crate) const SESSION_ID: u8 = 121;
pub(crate) const CONSUMER_ID: u8 = 122;
pub(crate) const PRODUCER_ID: u8 = 123;
pub(crate) const BROKER_ID: u8 = 124;

/// The JMS message classes: they share one layout and differ in how `content` is read.
pub(crate) fn is_message(t: u8) -> bool {
    (MESSAGE..=BLOB_MESSAGE).contains(&t)
}

/// MessageAck types.
pub(crate) mod ack {
    pub(crate) const DELIVERED: u8 = 0;
    pub(crate) const POISON: u8 = 1;
    pub(crate) const STANDARD: u8 = 2;
    pub(crate) const REDELIVERED: u8 = 3;
    pub(crate) const INDIVIDUAL: u8 = 4;
}

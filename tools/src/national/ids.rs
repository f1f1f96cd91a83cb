//! Ids: derived from a kind tag and a row number, so the data is the same on every run. They
//! have the shape of a UUID (version nibble 4), and cannot equal the service's own UUIDv7 ids.

use super::*;

pub(super) const T_CLUSTER: u8 = 0x01;
pub(super) const T_SCHOOL: u8 = 0x02;
pub(super) const T_PERSON: u8 = 0x03;
pub(super) const T_PROVIDER: u8 = 0x04;
pub(super) const T_COURSE: u8 = 0x05;
pub(super) const T_SESSION: u8 = 0x06;
pub(super) const T_BOOKING: u8 = 0x07;
pub(super) const T_INVITATION: u8 = 0x08;
pub(super) const T_RESPONSE: u8 = 0x09;
pub(super) const T_FORM: u8 = 0x0a;
pub(super) const T_QUESTION: u8 = 0x0b;

pub(super) fn push_id(buf: &mut String, tag: u8, n: u64) {
    let _ = write!(buf, "{tag:02x}000000-0000-4000-8000-{n:012x}");
}

pub(super) fn id(tag: u8, n: u64) -> String {
    let mut s = String::with_capacity(36);
    push_id(&mut s, tag, n);
    s
}

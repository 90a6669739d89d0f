//! The records of `zookeeper.jute` that the client protocol uses, field order = wire order.
//!
//! Scalar field types map to jute types: `i32` int, `i64` long, `bool` boolean, `String`
//! ustring (null read as ""), `Option<Vec<u8>>` buffer (null kept as `None`), `Vec<T>` vector
//! (null read as empty).

use super::codec::{Decode, DecodeResult, Encode, Reader, Writer};

impl Encode for i32 {
    fn encode(&self, w: &mut Writer) {
        w.i32(*self);
    }
}
impl Decode for i32 {
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        r.i32()
    }
}
impl Encode for i64 {
    fn encode(&self, w: &mut Writer) {
        w.i64(*self);
    }
}
impl Decode for i64 {
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        r.i64()
    }
}
impl Encode for bool {
    fn encode(&self, w: &mut Writer) {
        w.bool(*self);
    }
}
impl Decode for bool {
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        r.bool()
    }
}
impl Encode for String {
    fn encode(&self, w: &mut Writer) {
        w.ustring(self);
    }
}
impl Decode for String {
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        r.ustring()
    }
}
impl Encode for Option<Vec<u8>> {
    fn encode(&self, w: &mut Writer) {
        w.buffer(self.as_deref());
    }
}
impl Decode for Option<Vec<u8>> {
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        r.buffer()
    }
}
impl<T: Encode> Encode for Vec<T> {
    fn encode(&self, w: &mut Writer) {
        w.i32(self.len() as i32);
        for x in self {
            x.encode(w);
        }
    }
}
impl<T: Decode> Decode for Vec<T> {
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let n = r.vec_len(4)?.unwrap_or(0);
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(T::decode(r)?);
        }
        Ok(v)
    }
}

/// Declares a record struct and its jute encoding (fields in wire order).
macro_rules! record {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name { $($(#[$fm])* pub $f: $t),* }
        impl Encode for $name {
            #[allow(unused_variables)]
            fn encode(&self, w: &mut Writer) { $( self.$f.encode(w); )* }
        }
        impl Decode for $name {
            #[allow(unused_variables)]
            fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
                Ok($name { $( $f: <$t>::decode(r)? ),* })
            }
        }
    };
}

record! { pub struct Id { pub scheme: String, pub id: String } }
record! { pub struct Acl { pub perms: i32, pub id: Id } }
record! {
    /// The client-visible node status (68 bytes).
    pub struct Stat {
        pub czxid: i64, pub mzxid: i64, pub ctime: i64, pub mtime: i64,
        pub version: i32, pub cversion: i32, pub aversion: i32,
        pub ephemeral_owner: i64, pub data_length: i32, pub num_children: i32, pub pzxid: i64,
    }
}
record! { pub struct ClientInfo { pub auth_scheme: String, pub user: String } }

record! { pub struct RequestHeader { pub xid: i32, pub op: i32 } }
record! { pub struct ReplyHeader { pub xid: i32, pub zxid: i64, pub err: i32 } }
record! { pub struct MultiHeader { pub op: i32, pub done: bool, pub err: i32 } }
record! { pub struct AuthPacket { pub kind: i32, pub scheme: String, pub auth: Option<Vec<u8>> } }

record! { pub struct GetDataRequest { pub path: String, pub watch: bool } }
record! { pub struct GetDataResponse { pub data: Option<Vec<u8>>, pub stat: Stat } }
record! { pub struct SetDataRequest { pub path: String, pub data: Option<Vec<u8>>, pub version: i32 } }
record! { pub struct SetDataResponse { pub stat: Stat } }
record! { pub struct CreateRequest { pub path: String, pub data: Option<Vec<u8>>, pub acl: Vec<Acl>, pub flags: i32 } }
record! { pub struct CreateTtlRequest { pub path: String, pub data: Option<Vec<u8>>, pub acl: Vec<Acl>, pub flags: i32, pub ttl: i64 } }
record! { pub struct CreateResponse { pub path: String } }
record! { pub struct Create2Response { pub path: String, pub stat: Stat } }
record! { pub struct DeleteRequest { pub path: String, pub version: i32 } }
record! { pub struct ExistsRequest { pub path: String, pub watch: bool } }
record! { pub struct ExistsResponse { pub stat: Stat } }
record! { pub struct GetChildrenRequest { pub path: String, pub watch: bool } }
record! { pub struct GetChildrenResponse { pub children: Vec<String> } }
record! { pub struct GetChildren2Response { pub children: Vec<String>, pub stat: Stat } }
record! { pub struct CheckVersionRequest { pub path: String, pub version: i32 } }
record! { pub struct PathRequest { pub path: String } }
record! { pub struct GetAclResponse { pub acl: Vec<Acl>, pub stat: Stat } }
record! { pub struct SetAclRequest { pub path: String, pub acl: Vec<Acl>, pub version: i32 } }
record! { pub struct SetAclResponse { pub stat: Stat } }
record! { pub struct AllChildrenNumberResponse { pub total: i32 } }
record! { pub struct WatchesRequest { pub path: String, pub kind: i32 } }
record! { pub struct AddWatchRequest { pub path: String, pub mode: i32 } }
record! { pub struct ErrorResponse { pub err: i32 } }
record! { pub struct StringsResponse { pub items: Vec<String> } }
record! { pub struct WhoAmIResponse { pub client_info: Vec<ClientInfo> } }
record! { pub struct WatcherEvent { pub kind: i32, pub state: i32, pub path: String } }
record! { pub struct SaslRequest { pub token: Option<Vec<u8>> } }
record! {
    pub struct ReconfigRequest {
        pub joining_servers: String, pub leaving_servers: String, pub new_members: String,
        pub cur_config_id: i64,
    }
}
record! {
    pub struct SetWatches {
        pub relative_zxid: i64, pub data: Vec<String>, pub exist: Vec<String>, pub child: Vec<String>,
    }
}
record! {
    pub struct SetWatches2 {
        pub relative_zxid: i64, pub data: Vec<String>, pub exist: Vec<String>, pub child: Vec<String>,
        pub persistent: Vec<String>, pub persistent_recursive: Vec<String>,
    }
}

/// The first frame of a connection. `read_only` is `None` for old clients that omit it, and
/// then the response omits it as well.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub read_only: Option<bool>,
}

impl Decode for ConnectRequest {
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(ConnectRequest {
            protocol_version: r.i32()?,
            last_zxid_seen: r.i64()?,
            timeout_ms: r.i32()?,
            session_id: r.i64()?,
            passwd: r.buffer()?.unwrap_or_default(),
            read_only: if r.is_empty() { None } else { Some(r.bool()?) },
        })
    }
}

impl Encode for ConnectRequest {
    fn encode(&self, w: &mut Writer) {
        w.i32(self.protocol_version)
            .i64(self.last_zxid_seen)
            .i32(self.timeout_ms)
            .i64(self.session_id)
            .bytes(&self.passwd);
        if let Some(ro) = self.read_only {
            w.bool(ro);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub read_only: Option<bool>,
}

impl Encode for ConnectResponse {
    fn encode(&self, w: &mut Writer) {
        w.i32(self.protocol_version)
            .i32(self.timeout_ms)
            .i64(self.session_id)
            .bytes(&self.passwd);
        if let Some(ro) = self.read_only {
            w.bool(ro);
        }
    }
}

impl Decode for ConnectResponse {
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(ConnectResponse {
            protocol_version: r.i32()?,
            timeout_ms: r.i32()?,
            session_id: r.i64()?,
            passwd: r.buffer()?.unwrap_or_default(),
            read_only: if r.is_empty() { None } else { Some(r.bool()?) },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_is_68_bytes() {
        assert_eq!(Stat::default().to_bytes().len(), 68);
    }

    #[test]
    fn get_data_request_matches_the_spec_example() {
        let mut w = Writer::framed();
        RequestHeader { xid: 1, op: 4 }.encode(&mut w);
        GetDataRequest {
            path: "/foo".into(),
            watch: true,
        }
        .encode(&mut w);
        assert_eq!(
            w.finish_frame(),
            [0, 0, 0, 17, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 4, b'/', b'f', b'o', b'o', 1]
        );
    }

    #[test]
    fn connect_request_with_and_without_read_only() {
        let mut req = ConnectRequest {
            timeout_ms: 30000,
            passwd: vec![0; 16],
            read_only: Some(false),
            ..Default::default()
        };
        assert_eq!(req.to_bytes().len(), 45);
        assert_eq!(ConnectRequest::from_bytes(&req.to_bytes()).unwrap(), req);
        req.read_only = None;
        assert_eq!(req.to_bytes().len(), 44);
        assert_eq!(ConnectRequest::from_bytes(&req.to_bytes()).unwrap(), req);
    }
}

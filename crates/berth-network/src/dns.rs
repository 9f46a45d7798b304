//! The DNS wire format, as much as the embedded server needs: the question of a query is
//! read (one name, type and class), A answers for names the engine knows are built, and
//! every other query is relayed untouched to an upstream server, so nothing else of the
//! format needs to be understood.

use std::net::Ipv4Addr;

const HEADER: usize = 12;
/// Record type A and class IN.
pub const TYPE_A: u16 = 1;
const CLASS_IN: u16 = 1;
/// Answers for container names are short-lived: containers come and go.
const TTL: u32 = 600;
pub const RCODE_SERVFAIL: u8 = 2;

/// The question of a standard query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// Lower case, without the trailing dot.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    /// Where the question ends in the query.
    end: usize,
}

/// The question of `msg`, if it is a standard query with exactly one (no compression is
/// allowed in a question).
pub fn parse_question(msg: &[u8]) -> Option<Question> {
    if msg.len() < HEADER {
        return None;
    }
    let flags = u16::from_be_bytes([msg[2], msg[3]]);
    let is_query = flags & 0x8000 == 0 && (flags >> 11) & 0xf == 0;
    let qdcount = u16::from_be_bytes([msg[4], msg[5]]);
    if !is_query || qdcount != 1 {
        return None;
    }
    let mut labels = Vec::new();
    let mut i = HEADER;
    loop {
        let len = *msg.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        labels.push(String::from_utf8_lossy(msg.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*msg.get(i)?, *msg.get(i + 1)?]);
    let qclass = u16::from_be_bytes([*msg.get(i + 2)?, *msg.get(i + 3)?]);
    Some(Question {
        name: labels.join("."),
        qtype,
        qclass,
        end: i + 4,
    })
}

/// The authoritative answer to `query`: A records for `ips` when it asks for A (an empty
/// answer for other types of a known name, so the client does not wait for one).
pub fn answer(query: &[u8], q: &Question, ips: &[Ipv4Addr]) -> Vec<u8> {
    let ips: &[Ipv4Addr] = if q.qtype == TYPE_A && q.qclass == CLASS_IN {
        ips
    } else {
        &[]
    };
    let mut out = reply_header(query, 0, ips.len() as u16);
    out.extend_from_slice(&query[HEADER..q.end]);
    for ip in ips {
        out.extend_from_slice(&[0xc0, HEADER as u8]);
        out.extend_from_slice(&TYPE_A.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&ip.octets());
    }
    out
}

/// A reply carrying only an error code (SERVFAIL when no upstream answered).
pub fn error(query: &[u8], q: &Question, rcode: u8) -> Vec<u8> {
    let mut out = reply_header(query, rcode, 0);
    out.extend_from_slice(&query[HEADER..q.end]);
    out
}

fn reply_header(query: &[u8], rcode: u8, ancount: u16) -> Vec<u8> {
    let rd = query[2] & 0x01;
    let mut h = Vec::with_capacity(HEADER + 64);
    h.extend_from_slice(&query[..2]);
    // QR, AA, RD as asked; RA; the code.
    h.push(0x80 | 0x04 | rd);
    h.push(0x80 | (rcode & 0x0f));
    h.extend_from_slice(&1u16.to_be_bytes());
    h.extend_from_slice(&ancount.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 0]);
    h
}

/// The IPv4 name servers of a resolv.conf.
pub fn nameservers(resolv_conf: &str) -> Vec<Ipv4Addr> {
    resolv_conf
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next()?.parse().ok())?
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        q
    }

    #[test]
    fn answers_a_queries() {
        let msg = query("Web.Example", TYPE_A);
        let q = parse_question(&msg).unwrap();
        assert_eq!(q.name, "web.example");
        let r = answer(
            &msg,
            &q,
            &[Ipv4Addr::new(10, 0, 0, 7), Ipv4Addr::new(10, 1, 0, 7)],
        );
        assert_eq!(&r[..2], &[0x12, 0x34]);
        assert_eq!(r[2] & 0x80, 0x80, "a response");
        assert_eq!(r[3] & 0x0f, 0, "NOERROR");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 2);
        assert_eq!(&r[r.len() - 4..], &[10, 1, 0, 7]);
        // AAAA of a known name: no records, no error.
        let msg6 = query("web", 28);
        let q6 = parse_question(&msg6).unwrap();
        let r6 = answer(&msg6, &q6, &[Ipv4Addr::new(10, 0, 0, 7)]);
        assert_eq!(u16::from_be_bytes([r6[6], r6[7]]), 0);
        let e = error(&msg, &q, RCODE_SERVFAIL);
        assert_eq!(e[3] & 0x0f, 2);
    }

    #[test]
    fn refuses_what_is_not_a_plain_query() {
        assert!(parse_question(&[0; 5]).is_none());
        let mut resp = query("a", TYPE_A);
        resp[2] |= 0x80;
        assert!(parse_question(&resp).is_none());
        let mut cut = query("abc", TYPE_A);
        cut.truncate(15);
        assert!(parse_question(&cut).is_none());
        assert_eq!(
            nameservers("nameserver 10.0.0.2\nnameserver ::1\nsearch x\n"),
            vec![Ipv4Addr::new(10, 0, 0, 2)]
        );
    }
}

//! The typed channel between the runtime and the process it forks: a SOCK_SEQPACKET pair, one
//! JSON message per packet, so a message is never split or merged and EOF means "the other side
//! died".

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, SysContext};

/// Every message either side sends.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Message {
    /// Parent to child, first, when the child has a user namespace of its own: its id maps are
    /// written.
    Proceed,
    /// Parent to child: the step it waited for is done (maps written, cgroup joined, hooks run).
    Continue,
    /// Child to parent: mounts are prepared; run the createRuntime hooks now.
    RunCreateRuntimeHooks,
    /// Child to parent: all set up, about to wait for `start` (or to exec, for `exec`).
    Ready,
    /// Child to parent, with the fd: the seccomp notify fd, for the listener at listenerPath.
    SeccompNotify,
    /// Child to parent: setup failed; the text says what and why.
    Failed(Failure),
}

/// Why the child gave up, keeping apart the cases the engine maps to exit codes 127 and 126.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Failure {
    Setup(String),
    ExecNotFound(String),
    ExecDenied(String),
}

impl From<&Error> for Failure {
    fn from(e: &Error) -> Failure {
        match e {
            Error::ExecNotFound(m) => Failure::ExecNotFound(m.clone()),
            Error::ExecDenied(m) => Failure::ExecDenied(m.clone()),
            other => Failure::Setup(other.to_string()),
        }
    }
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        match f {
            Failure::Setup(m) => Error::Init(m),
            Failure::ExecNotFound(m) => Error::ExecNotFound(m),
            Failure::ExecDenied(m) => Error::ExecDenied(m),
        }
    }
}

/// One end of the channel.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

const MAX_MESSAGE: usize = 64 * 1024;

impl Channel {
    /// A connected pair; both ends close on exec.
    pub fn pair() -> Result<(Channel, Channel)> {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .sys(|| "socketpair for the init channel".into())?;
        Ok((Channel { fd: a }, Channel { fd: b }))
    }

    pub fn send(&self, message: &Message) -> Result<()> {
        self.send_with_fd(message, None)
    }

    /// Sends a message, optionally passing a file descriptor with it.
    pub fn send_with_fd(&self, message: &Message, fd: Option<BorrowedFd>) -> Result<()> {
        let bytes = serde_json::to_vec(message).expect("message serializes");
        let fds: Vec<RawFd> = fd.iter().map(|f| f.as_raw_fd()).collect();
        let cmsg = [ControlMessage::ScmRights(&fds)];
        let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
        sendmsg::<()>(
            self.fd.as_raw_fd(),
            &[IoSlice::new(&bytes)],
            cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .sys(|| "send on the init channel".into())?;
        Ok(())
    }

    /// Receives the next message; `None` when the other side closed (exited or exec'd).
    pub fn recv(&self) -> Result<Option<Message>> {
        Ok(self.recv_with_fd()?.map(|(m, _)| m))
    }

    /// Receives the next message and any file descriptor passed with it.
    pub fn recv_with_fd(&self) -> Result<Option<(Message, Option<OwnedFd>)>> {
        self.receive(MsgFlags::empty())
    }

    /// The failure the other side has already reported, if one waits unread: when a step of
    /// ours breaks because the child gave up meanwhile, its reason is the one worth telling.
    pub fn reported_failure(&self) -> Option<Error> {
        match self.receive(MsgFlags::MSG_DONTWAIT) {
            Ok(Some((Message::Failed(failure), _))) => Some(failure.into()),
            _ => None,
        }
    }

    fn receive(&self, flags: MsgFlags) -> Result<Option<(Message, Option<OwnedFd>)>> {
        let mut buf = vec![0u8; MAX_MESSAGE];
        let mut cmsg_space = nix::cmsg_space!([RawFd; 1]);
        let (len, fd) = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg_space),
                MsgFlags::MSG_CMSG_CLOEXEC | flags,
            ) {
                Ok(msg) => {
                    let mut fd = None;
                    for cmsg in msg.cmsgs().into_iter().flatten() {
                        if let ControlMessageOwned::ScmRights(fds) = cmsg {
                            for raw in fds {
                                // SAFETY: the kernel just installed this descriptor for us.
                                let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                                fd.get_or_insert(owned);
                            }
                        }
                    }
                    break (msg.bytes, fd);
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(errno) => return Err(errno).sys(|| "receive on the init channel".into()),
            }
        };
        if len == 0 {
            return Ok(None);
        }
        let message = serde_json::from_slice(&buf[..len])
            .map_err(|e| Error::Init(format!("garbled message on the init channel: {e}")))?;
        Ok(Some((message, fd)))
    }

    /// Waits for `expected`; a `Failed` message or EOF becomes the error.
    pub fn expect(&self, expected: Message, waiting_for: &str) -> Result<()> {
        match self.recv()? {
            Some(m) if m == expected => Ok(()),
            Some(Message::Failed(failure)) => Err(failure.into()),
            Some(other) => Err(Error::Init(format!(
                "expected {expected:?} while {waiting_for}, got {other:?}"
            ))),
            None => Err(Error::Init(format!(
                "the process exited while {waiting_for}"
            ))),
        }
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_fds_cross() {
        let (a, b) = Channel::pair().unwrap();
        let failed = Message::Failed(Failure::Setup("mount /proc: EPERM".into()));
        a.send(&failed).unwrap();
        assert_eq!(b.recv().unwrap(), Some(failed));
        let file = std::fs::File::open("/dev/null").unwrap();
        a.send_with_fd(&Message::Ready, Some(file.as_fd())).unwrap();
        let (m, fd) = b.recv_with_fd().unwrap().unwrap();
        assert_eq!(m, Message::Ready);
        assert!(fd.is_some());
        drop(a);
        assert_eq!(b.recv().unwrap(), None);
    }
}

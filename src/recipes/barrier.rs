//! The "start when n members have arrived" queue of the ZooKeeper guide: `<path>/num` holds
//! n; each member adds an ephemeral child `member-<guid>`; the member that sees n arrivals
//! creates `<path>/start`, which everyone else waits for (one exists watch on one node).

use super::lock::session_error;
use super::{pause_after, retry_loss};
use crate::client::{ClientError, CreateMode, Result, ZooKeeper};
use crate::proto::ErrorCode;

const MEMBER: &str = "member-";

#[derive(Debug, Clone)]
pub struct NMemberBarrier {
    zk: ZooKeeper,
    path: String,
    n: u32,
}

impl NMemberBarrier {
    pub fn new(zk: &ZooKeeper, path: &str, n: u32) -> NMemberBarrier {
        NMemberBarrier {
            zk: zk.clone(),
            path: path.trim_end_matches('/').to_string(),
            n,
        }
    }

    /// Records n in `<path>/num`, or checks that the existing value agrees.
    async fn ensure_num(&self) -> Result<()> {
        retry_loss(|| self.zk.ensure_path(&self.path)).await?;
        let num = format!("{}/num", self.path);
        let want = self.n.to_string();
        let r = retry_loss(|| {
            self.zk.create(
                &num,
                want.as_bytes(),
                super::open_acl(),
                CreateMode::Persistent,
            )
        })
        .await;
        match r {
            Ok(_) => Ok(()),
            Err(ClientError::Keeper(ErrorCode::NodeExists)) => {
                let (d, _) = retry_loss(|| self.zk.get_data(&num)).await?;
                if d == want.as_bytes() {
                    Ok(())
                } else {
                    Err(ClientError::Recipe(format!(
                        "{num} holds {:?}, this member expects {want}",
                        String::from_utf8_lossy(&d)
                    )))
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Joins and waits until n members have joined. Returns this member's node name.
    pub async fn enter(&self, member_data: &[u8]) -> Result<String> {
        self.ensure_num().await?;
        let name = format!("{MEMBER}{}", uuid::Uuid::new_v4().simple());
        let me = format!("{}/{name}", self.path);
        match retry_loss(|| {
            self.zk
                .create(&me, member_data, super::open_acl(), CreateMode::Ephemeral)
        })
        .await
        {
            Ok(_) | Err(ClientError::Keeper(ErrorCode::NodeExists)) => {}
            Err(e) => return Err(e),
        }
        let start = format!("{}/start", self.path);
        let ended = self.zk.session_ended();
        tokio::pin!(ended);
        loop {
            let step = async {
                let (st, w) = self.zk.exists_watch(&start).await?;
                if st.is_some() {
                    return Ok(None);
                }
                let members = self
                    .zk
                    .get_children(&self.path)
                    .await?
                    .into_iter()
                    .filter(|c| c.starts_with(MEMBER))
                    .count();
                if members >= self.n as usize {
                    match self
                        .zk
                        .create(&start, b"", super::open_acl(), CreateMode::Persistent)
                        .await
                    {
                        Ok(_) | Err(ClientError::Keeper(ErrorCode::NodeExists)) => return Ok(None),
                        Err(e) => return Err(e),
                    }
                }
                Ok(Some(w))
            };
            match step.await {
                Ok(None) => return Ok(name),
                Ok(Some(w)) => tokio::select! {
                    _ = w => {}
                    s = &mut ended => return Err(session_error(s)),
                },
                Err(e) if e.is_retryable() => pause_after(&e).await,
                Err(e) => return Err(e),
            }
        }
    }

    /// Members present now.
    pub async fn members(&self) -> Result<usize> {
        Ok(self
            .zk
            .get_children(&self.path)
            .await?
            .iter()
            .filter(|c| c.starts_with(MEMBER))
            .count())
    }
}

//! Asking many tile actors at once: one request each, every reply through one channel.
//!
//! Why not `join_all` over `Addr::send` futures: a snapshot pass of a 16384² board asks 65,536
//! tiles (and the overview refresh thousands a second), and with `join_all` over that many
//! request futures, each with its own waker, `FuturesUnordered` wake-ups, waker clones and the
//! snapshot pass's polling closure were about 40% of the server's CPU samples (`perf record` of
//! the server during a run with `benches/load_matrix.sh p2`'s flags). Here a tile answers by pushing its reply into a shared unbounded channel,
//! and the asker just reads the channel.

use actix::prelude::*;
use tokio::sync::mpsc;

/// Request `msg`, answered as `(index, reply)` through `reply`.
pub struct Gather<M: Message> {
    pub index: usize,
    pub msg: M,
    pub reply: mpsc::UnboundedSender<(usize, M::Result)>,
}

impl<M: Message> Message for Gather<M> {
    type Result = ();
}

/// Implements `Handler<Gather<M>>` for an actor whose `Handler<M>` returns `M::Result` itself.
#[macro_export]
macro_rules! gather_handler {
    ($actor:ty, $msg:ty) => {
        impl ::actix::Handler<$crate::canvas::gather::Gather<$msg>> for $actor {
            type Result = ();

            fn handle(
                &mut self,
                request: $crate::canvas::gather::Gather<$msg>,
                ctx: &mut Self::Context,
            ) {
                let reply = <Self as ::actix::Handler<$msg>>::handle(self, request.msg, ctx);
                // The asker may have given up (shutdown); nothing to do then.
                let _ = request.reply.send((request.index, reply));
            }
        }
    };
}

/// Sends `make()` to each of `actors` and returns the replies in the same order; `None` for an
/// actor that stopped before answering. A control message (`do_send`): the request is queued
/// even in a full mailbox.
pub async fn gather<'a, A, M>(
    actors: impl IntoIterator<Item = &'a Addr<A>>,
    make: impl Fn() -> M,
) -> Vec<Option<M::Result>>
where
    A: Actor + Handler<Gather<M>>,
    A::Context: actix::dev::ToEnvelope<A, Gather<M>>,
    M: Message + Send + 'static,
    M::Result: Send,
{
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut asked = 0;
    for (index, actor) in actors.into_iter().enumerate() {
        actor.do_send(Gather {
            index,
            msg: make(),
            reply: tx.clone(),
        });
        asked += 1;
    }
    // The channel ends once every request was answered or dropped with its stopped actor.
    drop(tx);
    let mut replies: Vec<Option<M::Result>> = (0..asked).map(|_| None).collect();
    while let Some((index, reply)) = rx.recv().await {
        replies[index] = Some(reply);
    }
    replies
}

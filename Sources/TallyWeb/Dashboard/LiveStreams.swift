import Synchronization

/// Counts the live-events streams each session holds open on this replica, so one session (a script, or a page
/// opened in many tabs) cannot hold a poll loop per connection without limit.
package final class LiveStreams: Sendable {
    package let perSession: Int
    /// Streams of all sessions together on this replica (the live API's sockets: many sign-ins or tokens of one
    /// person must not add up to a poll loop each without end).
    package let total: Int
    private let open = Mutex<[String: Int]>([:])

    package init(perSession: Int, total: Int = .max) {
        self.perSession = perSession
        self.total = total
    }

    /// A place for one more stream of `session`, or nil when it has `perSession` open already (or the replica
    /// `total`). The place is given back when the slot is released: keep it alive exactly as long as the stream
    /// (capture it in the body).
    package func claim(session: String) -> Slot? {
        let granted = open.withLock { open -> Bool in
            guard open[session, default: 0] < perSession, open.values.reduce(0, +) < total else { return false }
            open[session, default: 0] += 1
            return true
        }
        return granted ? Slot(streams: self, session: session) : nil
    }

    package func count(session: String) -> Int { open.withLock { $0[session] ?? 0 } }

    /// Whether one more stream of `session` would be granted now.
    package func hasRoom(session: String) -> Bool {
        open.withLock { $0[session, default: 0] < perSession && $0.values.reduce(0, +) < total }
    }

    fileprivate func release(_ session: String) {
        open.withLock { open in
            let left = (open[session] ?? 1) - 1
            open[session] = left > 0 ? left : nil
        }
    }

    /// One open stream. Released when it is deallocated, so a response that is never written (the client left
    /// before its body started) gives its place back too.
    package final class Slot: Sendable {
        package let streams: LiveStreams
        package let session: String
        fileprivate init(streams: LiveStreams, session: String) {
            self.streams = streams
            self.session = session
        }
        deinit { streams.release(session) }
    }
}

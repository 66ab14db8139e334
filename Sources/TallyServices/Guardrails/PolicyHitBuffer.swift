import Synchronization
import TallyCore

/// Policy hits waiting to be written, off the request path. Bounded: past `limit` new hits are dropped and counted
/// (a flood of blocks must not grow memory while the store is down); the metric still counts each block.
public final class PolicyHitBuffer: Sendable {
    struct State {
        var hits: [PolicyHit] = []
        var dropped = 0
    }

    private let state = Mutex(State())
    public let limit: Int

    public init(limit: Int) { self.limit = limit }

    func append(_ hit: PolicyHit) {
        state.withLock { s in
            if s.hits.count < limit { s.hits.append(hit) } else { s.dropped += 1 }
        }
    }

    /// Takes every buffered hit, and how many were dropped since the last take.
    func take() -> (hits: [PolicyHit], dropped: Int) {
        state.withLock { s in
            defer { s = State() }
            return (s.hits, s.dropped)
        }
    }

    /// Puts back hits a failed write took, ahead of newer ones, within the limit.
    func putBack(_ hits: [PolicyHit]) {
        state.withLock { s in
            let room = max(0, limit - s.hits.count)
            s.hits.insert(contentsOf: hits.prefix(room), at: 0)
            s.dropped += max(0, hits.count - room)
        }
    }

    public var count: Int { state.withLock { $0.hits.count } }
}

import Synchronization
import TallyHTTP
import TallyServices

/// The bytes the gateway holds whole across every call in flight: JSON request bodies it reads (up to 32 MiB each)
/// and the JSON answers it keeps to read their usage (up to 8 MiB each). Each call is bounded alone; this bounds
/// them together, so many large calls at once get a 503 instead of exhausting the server's memory.
public final class GatewayBuffers: Sendable {
    public let limit: Int
    private let held = Atomic<Int>(0)

    /// ServerOptions.gatewayBufferLimit; 256 MiB by default.
    public static let defaultLimit = 256 << 20

    public init(limit: Int = GatewayBuffers.defaultLimit) { self.limit = limit }

    /// Takes `bytes` from the budget, or nothing and false when that would pass the limit.
    package func reserve(_ bytes: Int) -> Bool {
        var current = held.load(ordering: .relaxed)
        while true {
            guard current + bytes <= limit else { return false }
            let (exchanged, original) = held.compareExchange(
                expected: current, desired: current + bytes, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    package func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        held.subtract(bytes, ordering: .relaxed)
    }

    package var inUse: Int { held.load(ordering: .relaxed) }
}

/// One call's share of `GatewayBuffers`, given back when the call is done with it.
package final class BufferLease: Sendable {
    package let buffers: GatewayBuffers
    private let taken = Atomic<Int>(0)

    package init(_ buffers: GatewayBuffers) { self.buffers = buffers }

    package func reserve(_ bytes: Int) -> Bool {
        guard buffers.reserve(bytes) else { return false }
        taken.add(bytes, ordering: .relaxed)
        return true
    }

    package func releaseAll() { buffers.release(taken.exchange(0, ordering: .relaxed)) }

    deinit { buffers.release(taken.load(ordering: .relaxed)) }
}

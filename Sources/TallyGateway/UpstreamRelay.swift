import AsyncAlgorithms
import AsyncHTTPClient
import NIOCore
import NIOPosix
import Synchronization
import TallyHTTP
import TallyServices

/// Hands an upstream body to the response writer piece by piece, and gives up when the upstream stays silent for
/// `idle`. The reading happens in a child task so a watchdog (an `Alarm`, re-armed while pieces keep coming) can break
/// a wait that `for await` alone could not; the channel between them holds one piece at a time, so a slow client slows
/// the upstream read instead of filling memory.
package enum UpstreamRelay {
    package struct IdleTimeout: Error {}

    /// Calls `consume` with each piece as it arrives; `consume` answers false to stop (the client went away), which
    /// cancels the upstream request. Throws `IdleTimeout`, or the upstream's error when its body broke off.
    package static func relay(_ body: HTTPClientResponse.Body, idle: Duration, consume: (ByteBuffer) async -> Bool)
        async throws
    {
        let channel = AsyncThrowingChannel<ByteBuffer, any Error>()
        let waitingSince = WaitingSince()
        let limit = UInt64(idle.wholeNanoseconds)
        let watchdog = Alarm(loop: MultiThreadedEventLoopGroup.singleton.any())
        defer { watchdog.stop() }
        watchdog.setAction {
            let since = waitingSince.value, now = NIODeadline.now().uptimeNanoseconds
            // Busy: a slow client is still taking the last piece; that is not the upstream's silence.
            let due = since == 0 ? now &+ limit : since &+ limit
            if due <= now {
                channel.fail(IdleTimeout())
            } else {
                watchdog.arm(in: .nanoseconds(Int64(due - now)))
            }
        }
        watchdog.arm(in: idle)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    for try await piece in body {
                        waitingSince.busy()
                        await channel.send(piece)
                        // The client has taken the piece: the wait for the upstream's next one starts now.
                        waitingSince.mark()
                    }
                    channel.finish()
                } catch {
                    channel.fail(error)
                }
            }
            for try await piece in channel {
                if await !consume(piece) { break }
            }
            channel.finish()
            group.cancelAll()
        }
    }

    /// When the reader began waiting for the upstream, in NIO's uptime nanoseconds; 0 while it hands a piece over.
    package final class WaitingSince: Sendable {
        private let nanoseconds = Atomic<UInt64>(NIODeadline.now().uptimeNanoseconds)
        package var value: UInt64 { nanoseconds.load(ordering: .relaxed) }
        package func mark() { nanoseconds.store(NIODeadline.now().uptimeNanoseconds, ordering: .relaxed) }
        package func busy() { nanoseconds.store(0, ordering: .relaxed) }
    }
}

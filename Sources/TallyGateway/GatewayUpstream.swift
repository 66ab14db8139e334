import AsyncAlgorithms
import AsyncHTTPClient
import Hummingbird
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import TallyCore
import TallyHTTP
import TallyServices

/// How long the gateway waits on an upstream (TALLY_GATEWAY_CONNECT_TIMEOUT, …_FIRST_BYTE_TIMEOUT, …_IDLE_TIMEOUT).
/// The defaults match the providers' SDKs (a long non-streamed generation sends its head only when it is done).
public struct GatewayTimeouts: Sendable, Equatable {
    /// To open the connection to the upstream.
    public var connect: Duration = .seconds(10)
    /// From sending the request to receiving the response head.
    public var firstByte: Duration = .seconds(600)
    /// The longest silence between two pieces of a response body.
    public var idle: Duration = .seconds(600)

    public init() {}
}

/// The gateway's HTTP client, a Service so it is shut down with the server. No decompression (the usage is read from
/// the bytes as they pass and the client gets the provider's own encoding), no redirects followed, and a pool wide
/// enough that long streams do not queue the calls behind them. Every call goes through the upstream address policy
/// (`UpstreamHTTP`): the host is resolved and checked right before the call, and the connection goes to the address
/// checked, so a base URL that has come to resolve to a private address (DNS rebinding) is refused with 422.
public final class GatewayHTTP: Service, Sendable {
    public let http: UpstreamHTTP
    public let timeouts: GatewayTimeouts
    /// For routers built without an application (tests): default timeouts, lives as long as the process.
    public static let shared = GatewayHTTP()

    /// Like `shared`, under another address policy: one per policy.
    package static func lasting(_ policy: UpstreamAddressPolicy) -> GatewayHTTP {
        lastingClients.withLock { all in
            if let existing = all[policy] { return existing }
            let made = GatewayHTTP(policy: policy)
            all[policy] = made
            return made
        }
    }

    private static let lastingClients = Mutex<[UpstreamAddressPolicy: GatewayHTTP]>([:])

    public init(timeouts: GatewayTimeouts = GatewayTimeouts(), policy: UpstreamAddressPolicy = UpstreamAddressPolicy())
    {
        self.timeouts = timeouts
        var configuration = HTTPClient.Configuration()
        configuration.decompression = .disabled
        // The first-byte and idle limits are the gateway's own (a read timeout here would cut a slow head too).
        configuration.timeout = .init(connect: .nanoseconds(timeouts.connect.wholeNanoseconds))
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 512
        http = UpstreamHTTP(policy: policy, configuration: configuration)
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await http.shutdown()
    }

    package struct FirstByteTimeout: Error {}

    /// Sends `request` with `body` and waits for the response head: the connect timeout bounds connecting, then the
    /// first-byte clock runs from the moment the body has been handed over, so a slow upload is not cut (like Go's
    /// `ResponseHeaderTimeout`). A request without a body starts that clock at once, after the connect allowance.
    package func send(_ request: HTTPClientRequest, body: UpstreamBody?) async throws -> HTTPClientResponse {
        var request = request
        let alarm = Alarm(loop: HTTPClient.defaultEventLoopGroup.any())
        defer { alarm.stop() }
        let firstByte = timeouts.firstByte
        let startClock: @Sendable () -> Void = { alarm.arm(in: firstByte) }
        switch body {
        case .bytes(let buffer)?:
            request.body = .stream(
                SignallingBody(base: [buffer].async, sent: startClock), length: .known(Int64(buffer.readableBytes)))
        case .stream(let upload, let length)?:
            request.body = .stream(
                SignallingBody(base: upload.pieces, sent: startClock),
                length: length.map { .known(Int64($0)) } ?? .unknown)
        case nil:
            alarm.arm(in: timeouts.connect + firstByte)
        }
        let prepared = request, http = http
        let call = Task { try await http.execute(prepared, deadline: .distantFuture) }
        alarm.setAction { call.cancel() }
        do {
            return try await withTaskCancellationHandler {
                try await call.value
            } onCancel: {
                call.cancel()
            }
        } catch {
            if alarm.fired { throw FirstByteTimeout() }
            throw error
        }
    }

}

/// Why an upstream call failed before its head arrived: what the client is told and what the event records.
package enum UpstreamFailure {
    case connectTimeout, firstByteTimeout, unreachable(String)
    /// The upstream address policy refused the call; nothing was sent.
    case notAllowed(UpstreamRefused)

    package init(_ error: any Error) {
        switch error {
        case let refused as UpstreamRefused: self = .notAllowed(refused)
        case let e as HTTPClientError where e == .connectTimeout: self = .connectTimeout
        case is GatewayHTTP.FirstByteTimeout: self = .firstByteTimeout
        // NIO's connection errors name the address and the errno, never a key.
        default: self = .unreachable(Self.reason(error))
        }
    }

    /// "Connection refused (errno 111)" rather than NIO's nested description.
    package static func reason(_ error: any Error) -> String {
        var error = error
        if let e = error as? NIOConnectionError, let first = e.connectionErrors.first?.error { error = first }
        if let e = error as? IOError { return "\(String(cString: strerror(e.errnoCode))) (errno \(e.errnoCode))" }
        return String(String(describing: error).prefix(300))
    }

    package var status: Int {
        switch self {
        case .connectTimeout, .firstByteTimeout: 504
        case .unreachable: 502
        case .notAllowed: 422
        }
    }

    package var errorType: String {
        switch self {
        case .connectTimeout: "upstream_connect_timeout"
        case .firstByteTimeout: "upstream_timeout"
        case .unreachable: "upstream_unreachable"
        case .notAllowed: "upstream_not_allowed"
        }
    }

    package func message(_ provider: String, base: String, timeouts: GatewayTimeouts) -> String {
        switch self {
        case .connectTimeout:
            "Tally gateway: could not connect to \(provider) at \(base) within \(timeouts.connect.shortText) (TALLY_GATEWAY_CONNECT_TIMEOUT)"
        case .firstByteTimeout:
            "Tally gateway: \(provider) sent no answer within \(timeouts.firstByte.shortText) (TALLY_GATEWAY_FIRST_BYTE_TIMEOUT)"
        case .unreachable(let why):
            "Tally gateway: could not reach \(provider) at \(base): \(why)"
        case .notAllowed(let refused):
            "Tally gateway: upstream_not_allowed: the \(provider) connection's base_url \(refused)"
        }
    }
}

extension Duration {
    package var wholeNanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
    package var wholeMilliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }

    /// `500ms`, `10s`, `5m`: how the settings are written.
    package var shortText: String {
        let ms = wholeMilliseconds
        if ms % 60_000 == 0 { return "\(ms / 60_000)m" }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(ms)ms"
    }
}

/// What the gateway sends upstream: bytes it has read (and maybe rewritten), or the client's body as it arrives.
package enum UpstreamBody: Sendable {
    case bytes(ByteBuffer)
    case stream(UploadPump, length: Int?)
}

/// Reads a client's upload for the upstream request, one piece at a time. The server reads what is left of a request
/// body once the response is done, and two readers on one body are fatal; so when a call ends before its upload
/// (the upstream answered early, or failed), `stop` ends this reader first.
package final class UploadPump: Sendable {
    package let pieces = AsyncThrowingChannel<ByteBuffer, any Error>()
    private let reader: Task<Void, Never>

    package init(_ body: RequestBody) {
        let pieces = pieces
        reader = Task {
            do {
                for try await piece in body { await pieces.send(piece) }
                pieces.finish()
            } catch {
                pieces.fail(error)
            }
        }
    }

    package func stop() async {
        reader.cancel()
        pieces.finish()
        await reader.value
    }
}

/// A request body that says when its last piece has been taken, which is when the first-byte clock starts.
package struct SignallingBody<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable
where Base.Element == ByteBuffer {
    package let base: Base
    package let sent: @Sendable () -> Void

    package struct AsyncIterator: AsyncIteratorProtocol {
        package var base: Base.AsyncIterator
        package let sent: @Sendable () -> Void

        package mutating func next() async throws -> ByteBuffer? {
            let piece = try await base.next()
            if piece == nil { sent() }
            return piece
        }
    }

    package func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), sent: sent) }
}

/// A timer on an event loop for the gateway's per-call limits. Unlike `Task.sleep`, whose cancelled sleeps hold their
/// task until the original deadline (600 s here, thousands of calls a second), a stopped alarm is freed at once.
package final class Alarm: Sendable {
    private struct State: Sendable {
        package var scheduled: Scheduled<Void>?
        package var action: (@Sendable () -> Void)?
        package var fired = false
        package var stopped = false
    }

    private let state = Mutex(State())
    private let loop: any EventLoop

    package init(loop: any EventLoop) { self.loop = loop }

    /// What to do when the alarm goes off (run at once if it already has).
    package func setAction(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLock { s -> Bool in
            s.action = action
            return s.fired && !s.stopped
        }
        if now { action() }
    }

    /// Goes off after `delay`, replacing an earlier setting; nothing once stopped.
    package func arm(in delay: Duration) {
        state.withLock { s in
            guard !s.stopped else { return }
            s.scheduled?.cancel()
            s.scheduled = loop.scheduleTask(in: .nanoseconds(delay.wholeNanoseconds)) { self.fire() }
        }
    }

    package func stop() {
        state.withLock { s in
            s.stopped = true
            s.scheduled?.cancel()
            s.scheduled = nil
            s.action = nil
        }
    }

    package var fired: Bool { state.withLock { $0.fired } }

    private func fire() {
        let action = state.withLock { s -> (@Sendable () -> Void)? in
            guard !s.stopped else { return nil }
            s.fired = true
            s.scheduled = nil
            return s.action
        }
        action?()
    }
}

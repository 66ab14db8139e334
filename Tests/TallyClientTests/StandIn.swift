import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A tiny HTTP server on 127.0.0.1 (NIO's HTTP/1 pipeline) standing in for Tally: it answers each request with the
/// next scripted response (then with the last one forever) and keeps what it received, and when.
final class StandIn: Sendable {
    struct Response: Sendable {
        var status: HTTPResponseStatus
        var headers: [(String, String)] = []
        var body: String

        /// 200 acknowledging every event of the request.
        static let acknowledge = Response(status: .ok, body: "")
        static func tooManyRequests(retryAfter: String) -> Response {
            Response(
                status: .tooManyRequests, headers: [("Retry-After", retryAfter)],
                body: #"{"error":{"code":"rate_limited","message":"too many requests","details":[]}}"#)
        }
        static let unavailable = Response(
            status: .serviceUnavailable,
            body: #"{"error":{"code":"unavailable","message":"the database cannot be reached","details":[]}}"#)
    }

    struct Received: Sendable {
        var at: ContinuousClock.Instant
        var method: HTTPMethod
        var uri: String
        var headers: HTTPHeaders
        var body: String

        /// The ids of the `{"events":[…]}` body, in order.
        var eventIDs: [String] {
            guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                let events = object["events"] as? [[String: Any]]
            else { return [] }
            return events.compactMap { $0["id"] as? String }
        }
    }

    private struct State {
        var script: [Response]
        var received: [Received] = []
    }

    private let state: NIOLockedValueBox<State>
    private let channel: any Channel
    var baseURL: String { "http://127.0.0.1:\(channel.localAddress!.port!)" }
    var received: [Received] { state.withLockedValue { $0.received } }

    private init(state: NIOLockedValueBox<State>, channel: any Channel) {
        self.state = state
        self.channel = channel
    }

    static func start(script: [Response]) async throws -> StandIn {
        let state = NIOLockedValueBox(State(script: script))
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(state: state))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return StandIn(state: state, channel: channel)
    }

    func stop() async {
        try? await channel.close()
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        private let state: NIOLockedValueBox<State>
        private var head: HTTPRequestHead?
        private var body = ""

        init(state: NIOLockedValueBox<State>) {
            self.state = state
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                body = ""
            case .body(let buffer):
                body += String(buffer: buffer)
            case .end:
                guard let head else { return }
                let received = Received(
                    at: .now, method: head.method, uri: head.uri, headers: head.headers, body: body)
                let response = state.withLockedValue { state -> Response in
                    state.received.append(received)
                    return state.script.count > 1 ? state.script.removeFirst() : state.script[0]
                }
                var text = response.body
                if response.status == .ok && text.isEmpty {
                    text = #"{"accepted":\#(received.eventIDs.count),"duplicates":0}"#
                }
                var headers = HTTPHeaders([
                    ("Content-Type", "application/json"), ("Content-Length", "\(text.utf8.count)"),
                ])
                headers.add(contentsOf: response.headers)
                context.write(
                    wrapOutboundOut(
                        .head(HTTPResponseHead(version: head.version, status: response.status, headers: headers))),
                    promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                self.head = nil
            }
        }
    }
}

/// A log handler keeping every message, to check what the client logged.
struct CapturingLogHandler: LogHandler {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata
    }

    final class Store: Sendable {
        private let entries = NIOLockedValueBox<[Entry]>([])
        var all: [Entry] { entries.withLockedValue { $0 } }
        func append(_ entry: Entry) { entries.withLockedValue { $0.append(entry) } }
    }

    let store: Store
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        store.append(
            Entry(
                level: event.level, message: "\(event.message)",
                metadata: metadata.merging(event.metadata ?? [:]) { $1 }))
    }

    static func logger() -> (Logger, Store) {
        let store = Store()
        return (Logger(label: "tally.client.tests") { _ in CapturingLogHandler(store: store) }, store)
    }
}

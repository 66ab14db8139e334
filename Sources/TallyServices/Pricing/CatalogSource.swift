import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import TallyCore

/// Reads a catalog file from where the operator names it: an http(s) URL (`tally prices update --from`,
/// TALLY_PRICES_URL) or, for the CLI, a local path. Bounded in size and time; a failure says what went wrong without
/// the URL's credentials or query.
public enum CatalogSource {
    /// Ten times the size of today's catalog; more is not a catalog.
    public static let maxBytes = 8 << 20
    public static let timeout = Duration.seconds(30)

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public static func isURL(_ location: String) -> Bool {
        let lower = location.lowercased()
        return lower.hasPrefix("http://") || lower.hasPrefix("https://")
    }

    /// The URL without user, password, query or fragment: what logs and messages may show.
    public static func redacted(_ url: String) -> String {
        guard let parts = URLComponents(string: url), let scheme = parts.scheme, let host = parts.host else {
            return "(an unreadable URL)"
        }
        return "\(scheme)://\(host)\(parts.port.map { ":\($0)" } ?? "")\(parts.path)"
    }

    /// An http(s) URL whose scheme and host are usable; nil otherwise.
    public static func validURL(_ text: String) -> Bool {
        guard isURL(text), let parts = URLComponents(string: text), let host = parts.host, !host.isEmpty else {
            return false
        }
        return true
    }

    public static func read(_ location: String, timeout: Duration = timeout) async throws(Failure) -> [UInt8] {
        if isURL(location) { return try await fetch(location, timeout: timeout) }
        if location.contains("://") { throw Failure(description: "only http and https URLs are read") }
        guard let data = FileManager.default.contents(atPath: location) else {
            throw Failure(description: "cannot read the file \(location)")
        }
        guard data.count <= maxBytes else {
            throw Failure(description: "the file is larger than \(maxBytes >> 20) MiB")
        }
        return Array(data)
    }

    /// GET the URL (redirects followed by AsyncHTTPClient's default policy); only a 200 with at most `maxBytes`,
    /// whole within `timeout`, counts. AsyncHTTPClient's own deadline ends at the response head, so the body is raced
    /// against the clock here: a server that stalls mid-body cannot hold the daily fetch (or the CLI) forever.
    public static func fetch(_ url: String, timeout: Duration = timeout) async throws(Failure) -> [UInt8] {
        let shown = redacted(url)
        guard validURL(url) else { throw Failure(description: "\(shown) is not an http(s) URL") }
        let seconds = timeout.components.seconds
        do {
            return try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
                group.addTask { try await get(url, shown: shown, timeout: timeout) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let bytes = try await group.next() ?? nil else {
                    throw Failure(description: "\(shown) did not send the whole file within \(seconds) s")
                }
                return bytes
            }
        } catch let failure as Failure {
            throw failure
        } catch is NIOTooManyBytesError {
            throw Failure(description: "\(shown) sends more than \(maxBytes >> 20) MiB")
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .connectTimeout {
            throw Failure(description: "\(shown) did not answer within \(seconds) s")
        } catch {
            throw Failure(description: "\(shown) could not be read: \(Self.describe(error))")
        }
    }

    static func get(_ url: String, shown: String, timeout: Duration) async throws -> [UInt8] {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        let response = try await HTTPClient.shared.execute(
            request, timeout: .seconds(Int64(timeout.components.seconds)))
        guard response.status == .ok else {
            throw Failure(description: "\(shown) answered HTTP \(response.status.code)")
        }
        if let length = response.headers.first(name: "content-length").flatMap(Int.init), length > maxBytes {
            throw Failure(description: "\(shown) sends more than \(maxBytes >> 20) MiB")
        }
        return Array(buffer: try await response.body.collect(upTo: maxBytes))
    }

    /// A transport error's kind only: its text may hold the URL.
    static func describe(_ error: any Error) -> String {
        switch error {
        case let e as HTTPClientError: "\(e)"
        case is NIOConnectionError: "the connection failed"
        case let e as IOError: "the connection failed (\(e.errnoCode))"
        default: "\(type(of: error))"
        }
    }
}

import Crypto
import Foundation
import Hummingbird

/// Serves the stylesheet and script under content-hashed paths, cacheable for a year.
enum Assets {
    static let version: String = {
        let digest = SHA256.hash(data: Data((Stylesheet.css + Script.js).utf8))
        return digest.prefix(6).map { String(format: "%02x", $0) }.joined()
    }()

    static var stylesheetPath: String { "/assets/tally.css?v=\(version)" }
    static var scriptPath: String { "/assets/tally.js?v=\(version)" }

    static func addRoutes(to router: Router<TallyRequestContext>) {
        router.get("assets/tally.css") { _, _ in serve(Stylesheet.css, type: "text/css; charset=utf-8") }
        router.get("assets/tally.js") { _, _ in serve(Script.js, type: "text/javascript; charset=utf-8") }
    }

    static func serve(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "public, max-age=31536000, immutable"],
                 body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

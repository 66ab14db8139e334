import Hummingbird
import TallyGateway
import TallyHTTP
import TallyServices
import TallyWeb

/// Serves the stylesheet and script under content-hashed paths, cacheable for a year.
extension Assets {
    static func addRoutes(to router: Router<TallyRequestContext>) {
        router.get("assets/tally.css") { _, _ in serve(Stylesheet.css, type: "text/css; charset=utf-8") }
        router.get("assets/tally.js") { _, _ in serve(Script.js, type: "text/javascript; charset=utf-8") }
    }

    static func serve(_ text: String, type: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: type, .cacheControl: "public, max-age=31536000, immutable"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

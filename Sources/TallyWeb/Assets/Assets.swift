import Crypto
import Foundation

/// The stylesheet and script, served under content-hashed paths (routes: TallyServer's AssetsRoutes).
package enum Assets {
    package static let version: String = {
        let digest = SHA256.hash(data: Data((Stylesheet.css + Script.js).utf8))
        return digest.prefix(6).map { String(format: "%02x", $0) }.joined()
    }()

    package static var stylesheetPath: String { "/assets/tally.css?v=\(version)" }
    package static var scriptPath: String { "/assets/tally.js?v=\(version)" }
}

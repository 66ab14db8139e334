import ArgumentParser
import Foundation
import TallyCore
import TallyForecast

/// `tally forecast-bench` (hidden): the engine's side of the accuracy benchmark (bench/forecast/run.py). Reads folds
/// as JSON on stdin, `{"folds": [{"id", "start": "YYYY-MM-DD", "values": ["12.5", …], "horizon"}]}`, and writes
/// `{"forecasts": [{"id", "method", "p10": […], "p50": […], "p90": […], "latency_ms"}]}` with dollars as numbers.
struct ForecastBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forecast-bench", abstract: "Forecast benchmark folds read as JSON on stdin.",
        shouldDisplay: false)

    struct Fold: Decodable {
        var id: String
        var start: String
        var values: [String]
        var horizon: Int
    }
    struct Input: Decodable { var folds: [Fold] }
    struct Output: Encodable {
        var id: String
        var method: String
        var p10: [Double]
        var p50: [Double]
        var p90: [Double]
        var latencyMs: Double

        enum CodingKeys: String, CodingKey {
            case id, method, p10, p50, p90
            case latencyMs = "latency_ms"
        }
    }

    func run() throws {
        let input = try JSONDecoder().decode(Input.self, from: FileHandle.standardInput.readDataToEndOfFile())
        let clock = ContinuousClock()
        let forecasts = try input.folds.map { fold in
            guard let start = CivilDate(parsing: fold.start), Forecaster.horizons.contains(fold.horizon) else {
                throw ValidationError("fold \(fold.id): bad start or horizon")
            }
            let values = try fold.values.map { text in
                guard let usd = USD(decimal: text) else { throw ValidationError("fold \(fold.id): bad value \(text)") }
                return usd
            }
            let series = DailySeries(start: start, values: values)
            var result: ForecastResult?
            let elapsed = clock.measure { result = Forecaster.forecast(series, horizon: fold.horizon) }
            let days = result?.days ?? []
            func dollars(_ pick: (Quantiles) -> USD) -> [Double] { days.map { Double(pick($0.band).nanos) / 1e9 } }
            return Output(
                id: fold.id, method: result?.method ?? "", p10: dollars(\.p10), p50: dollars(\.p50),
                p90: dollars(\.p90),
                latencyMs: Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1e3)
        }
        let encoder = JSONEncoder()
        FileHandle.standardOutput.write(try encoder.encode(["forecasts": forecasts]))
    }
}

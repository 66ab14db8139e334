import TallyCore
import Testing

@testable import TallyForecast

@Suite struct ForecasterTests {
    @Test func aFlatSeriesForecastsFlat() {
        let series = DailySeries(
            start: CivilDate(year: 2026, month: 9, day: 1),
            values: Array(repeating: USD(nanos: 5_000_000_000), count: 91))
        let result = Forecaster.forecast(series, horizon: 30)
        #expect(result.days.count == 30)
        #expect(result.days.map(\.band.p50) == Array(repeating: USD(nanos: 5_000_000_000), count: 30))
        #expect(result.days.first?.day == CivilDate(year: 2026, month: 12, day: 1))
    }
}

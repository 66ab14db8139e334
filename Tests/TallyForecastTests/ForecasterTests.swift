import TallyCore
import Testing

@testable import TallyForecast

private let start = CivilDate(year: 2026, month: 9, day: 1)
private func dollars(_ values: [Double]) -> DailySeries {
    DailySeries(start: start, values: values.map { USD(nanos: Int64(($0 * 1e9).rounded())) })
}
private func value(_ usd: USD) -> Double { Double(usd.nanos) / 1e9 }
/// A deterministic noisy series: a weekly profile times a multiplicative wobble of ±`noise`.
private func noisy(_ count: Int, level: Double = 100, noise: Double = 0.2) -> [Double] {
    var state: UInt64 = 18
    return (0..<count).map { day in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let unit = Double(state >> 11) / Double(1 << 53)
        return level * [1.2, 1.1, 1.0, 1.1, 1.2, 0.5, 0.4][day % 7] * (1 + noise * (2 * unit - 1))
    }
}

@Suite struct ForecasterTests {
    @Test func aFlatSeriesForecastsFlatWithACollapsedBand() {
        let result = Forecaster.forecast(dollars(Array(repeating: 5, count: 91)), horizon: 30)
        #expect(result.days.count == 30)
        #expect(result.days.first?.day == CivilDate(year: 2026, month: 12, day: 1))
        let five = USD(nanos: 5_000_000_000)
        #expect(
            result.days.map(\.band)
                == Array(repeating: Quantiles(p1: five, p10: five, p50: five, p90: five, p99: five), count: 30))
        #expect(result.days.last?.cumulative.p50 == USD(nanos: 150_000_000_000))
        #expect(result.days.last?.cumulative.p10 == USD(nanos: 150_000_000_000))
        #expect(result.method == "robust_weekday_damped_trend")
    }

    @Test func aKnownWeeklyPatternIsReproduced() {
        let week: [Double] = [10, 12, 11, 10, 9, 2, 1]
        let values = (0..<84).map { week[$0 % 7] }
        let result = Forecaster.forecast(dollars(values), horizon: 14)
        #expect(result.days.map { value($0.band.p50) } == (84..<98).map { week[$0 % 7] })
        #expect(result.days.allSatisfy { $0.band.p10 == $0.band.p90 })
        #expect(result.backtest.mase == nil)  // undefined: seasonal-naive is exact too
        #expect(result.backtest.mape == 0)
    }

    @Test func zerosForecastZero() {
        let result = Forecaster.forecast(dollars(Array(repeating: 0, count: 60)), horizon: 30)
        #expect(result.days.allSatisfy { $0.band == .zero && $0.cumulative == .zero })
        #expect(Forecaster.forecast(dollars([]), horizon: 5).days.allSatisfy { $0.band == .zero })
    }

    @Test func aLevelShiftMovesTheForecastToTheNewLevel() {
        let values = Array(repeating: 10.0, count: 60) + Array(repeating: 20.0, count: 21)
        let p50 = Forecaster.forecast(dollars(values), horizon: 30).days.map { value($0.band.p50) }
        #expect(p50.allSatisfy { abs($0 - 20) < 0.5 }, "\(p50)")
    }

    @Test func aLinearTrendIsFollowed() {
        let values = (0..<120).map { 50 + Double($0) }
        let p50 = Forecaster.forecast(dollars(values), horizon: 7).days.map { value($0.band.p50) }
        #expect(p50.first.map { abs($0 - 170) < 5 } == true, "\(p50)")
        #expect(zip(p50, p50.dropFirst()).allSatisfy { $0 < $1 })
    }

    @Test func aShortSeriesGetsWideBands() {
        let result = Forecaster.forecast(dollars([10, 10, 10]), horizon: 30)
        let first = result.days[0].band
        #expect(value(first.p50) == 10)
        #expect(value(first.p90) >= 2 * value(first.p10) + 5, "\(first)")
        #expect(result.backtest == Backtest(mase: nil, mape: nil, coverageP10P90: nil, days: 0))
    }

    @Test func oneSpikeDoesNotMoveTheMedian() {
        var values = Array(repeating: 10.0, count: 90)
        values[87] = 1000
        let p50 = Forecaster.forecast(dollars(values), horizon: 30).days.map { value($0.band.p50) }
        #expect(p50.allSatisfy { abs($0 - 10) < 0.5 }, "\(p50)")
    }

    @Test func quantilesAreOrderedNonNegativeAndWidenWithTheHorizon() {
        let result = Forecaster.forecast(dollars(noisy(182, noise: 0.6)), horizon: 60)
        for day in result.days {
            for band in [day.band, day.cumulative] {
                #expect(band.p1 <= band.p10 && band.p10 <= band.p50 && band.p50 <= band.p90 && band.p90 <= band.p99)
                #expect(band.p1 >= .zero)
            }
        }
        let width = { (day: DayForecast) in value(day.band.p90) - value(day.band.p10) }
        #expect(width(result.days[56]) > width(result.days[0]))
        #expect(result.days[29].cumulative.p90 > result.days[28].cumulative.p90)
    }

    @Test func theBacktestIsTheScopesOwn() {
        let backtest = Forecaster.forecast(dollars(noisy(182)), horizon: 30).backtest
        #expect(backtest.days == 56)
        #expect(backtest.mase.map { $0 > 0 && $0 < 1 } == true, "\(backtest)")
        #expect(backtest.mape.map { $0 > 0 && $0 < 0.2 } == true, "\(backtest)")
        #expect(backtest.coverageP10P90.map { $0 > 0.5 && $0 <= 1 } == true, "\(backtest)")
    }

    @Test func hugeValuesAreClampedNotACrash() {
        let huge = DailySeries(start: start, values: Array(repeating: USD(nanos: Int64.max / 1000), count: 120))
        let result = Forecaster.forecast(huge, horizon: 366)
        #expect(result.days.count == 366)
        let largest = DailySeries(start: start, values: (0..<90).map { USD(nanos: $0 % 2 == 0 ? Int64.max : 0) })
        let clamped = Forecaster.forecast(largest, horizon: 366)
        #expect(clamped.days.allSatisfy { $0.band.p99 <= USD(nanos: 1 << 54) })
        #expect(Forecaster.expected(largest, from: 30).count == 60)
    }

    @Test func theSameSeriesGivesTheSameForecast() {
        let series = dollars(noisy(150, noise: 0.5))
        #expect(Forecaster.forecast(series, horizon: 30) == Forecaster.forecast(series, horizon: 30))
        #expect(
            Forecaster.forecast(series, horizon: 10).days
                == Array(Forecaster.forecast(series, horizon: 30).days.prefix(10)))
    }

    @Test func expectedBandsJudgeEachDayFromTheDaysBefore() {
        var values = noisy(120, noise: 0.1)
        values[110] *= 6
        let expected = Forecaster.expected(dollars(values), from: 60)
        #expect(expected.count == 60)
        #expect(expected.first?.day == start.addingDays(60))
        let spike = expected[50]
        #expect(spike.actual > spike.band.p99)
        let quiet = expected.enumerated().filter { $0.offset != 50 && $0.element.actual > $0.element.band.p99 }
        #expect(quiet.count <= 3, "\(quiet.map(\.offset))")
    }
}

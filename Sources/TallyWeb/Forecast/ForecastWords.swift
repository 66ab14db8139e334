import TallyCore
import TallyForecast
import TallyServices

/// The forecast's figures in sentences for people who do not read quantiles.
package enum ForecastWords {
    /// `Tuesday, 15 December` (with the year when it is not `thisYear`).
    package static func day(_ date: CivilDate, thisYear: Int) -> String {
        let weekdays = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
        let months = [
            "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
            "November", "December",
        ]
        return "\(weekdays[date.isoWeekday - 1]), \(date.day) \(months[date.month - 1])"
            + (date.year == thisYear ? "" : " \(date.year)")
    }

    /// Whether and when the budget's amount is crossed (at the forecast's p50).
    package static func crossing(_ outlook: BudgetOutlook, thisYear: Int) -> String {
        guard let crossed = outlook.exceedDayP50, let until = outlook.daysUntilExceeded else {
            return "Stays under the budget."
        }
        let when = day(crossed, thisYear: thisYear)
        switch until {
        case ..<0: return "Crossed the budget on \(when)."
        case 0: return "Crosses the budget today, \(when)."
        case 1: return "Crosses the budget tomorrow, \(when)."
        default: return "Crosses the budget on \(when), in \(until) days."
        }
    }

    package static func risk(_ risk: BudgetRisk) -> String {
        switch risk {
        case .low: "Low: even the high end of the forecast stays under the budget."
        case .medium: "Medium: the likely total stays under the budget, but the high end crosses it."
        case .high: "High: the likely total is over the budget."
        }
    }

    /// "Over the last 56 days, forecasts were off by 12% on average …", or why there is no such figure yet.
    package static func backtest(_ b: Backtest) -> String {
        guard b.days > 0 else {
            return "There is too little history to check this forecast against its own past yet, so its range is "
                + "deliberately wide."
        }
        var sentence = "Over the last \(b.days) days, forecasts made from this scope's own history"
        if let mape = b.mape {
            sentence += " were off by \(percent(mape)) a day on average"
        } else {
            sentence += " were checked against what happened"
        }
        if let coverage = b.coverageP10P90 {
            sentence += ", and \(percent(coverage)) of days fell inside the shaded range (the aim is 80%)"
        }
        if let mase = b.mase {
            sentence +=
                mase < 1
                ? "; that is \(percent(1 - mase)) closer than repeating the same weekday of the week before"
                : "; repeating the same weekday of the week before did about as well or better"
        }
        return sentence + "."
    }

    static func percent(_ share: Double) -> String {
        guard share.isFinite else { return "—" }
        return "\(Int((min(max(share, 0), 100) * 100).rounded()))%"
    }
}

import Connectors

/// The transfers Stripe lists for a filter, read page by page (100 a page) up to `pageLimit` pages.
struct StripeTransfers: Sendable {
    /// Newest first.
    var data: [StripeTransfer]
    /// More transfers match than were read: the page limit was reached.
    var hasMore: Bool

    /// 1,000 transfers: far more than one payout's group or a vendor's day holds, and a bound on
    /// the calls one settlement makes.
    static let pageLimit = 10

    static func read(_ stripe: StripeConnector, group: String? = nil, destination: String? = nil, createdSince: Int? = nil,
                     pageLimit: Int = Self.pageLimit) async throws(ConnectorError) -> StripeTransfers {
        var read = StripeTransfers(data: [], hasMore: false)
        var after: String?
        for _ in 0..<max(pageLimit, 1) {
            let page = try await stripe.transfers(group: group, destination: destination, createdSince: createdSince,
                                                  startingAfter: after)
            read.data += page.data
            read.hasMore = page.hasMore
            guard page.hasMore, let last = page.data.last else { break }
            after = last.id
        }
        return read
    }
}

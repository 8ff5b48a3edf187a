import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix

/// One HTTP exchange under a timeout that covers the whole answer (head and body), with
/// AsyncHTTPClient's failures sorted into what they mean for a retry.
enum HTTPExchange {
    /// Bodies larger than this are refused (no answer the platform reads comes close).
    static let maxBodyBytes = 8 << 20

    static func run(_ request: HTTPClientRequest, on http: HTTPClient, timeout: Duration,
                    service: Service) async throws(ConnectorError) -> ServiceResponse {
        let seconds = Double(timeout.milliseconds) / 1000
        let outcome: Result<ServiceResponse, any Error> = await withTaskGroup(of: Result<ServiceResponse, any Error>?.self) { group in
            group.addTask {
                do {
                    let response = try await http.execute(request, timeout: .milliseconds(Int64(timeout.milliseconds)))
                    let body = try await response.body.collect(upTo: maxBodyBytes)
                    var headers: [String: String] = [:]
                    for header in response.headers { headers[header.name.lowercased()] = header.value }
                    return .success(ServiceResponse(status: Int(response.status.code), headers: headers,
                                                    body: Data(body.readableBytesView)))
                } catch {
                    return .failure(error)
                }
            }
            group.addTask {
                // The timer: it wins when the exchange has not finished in time.
                try? await Task.sleep(for: timeout)
                return Task.isCancelled ? nil : .failure(HTTPClientError.deadlineExceeded)
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .failure(CancellationError())
        }
        switch outcome {
        case .success(let response): return response
        case .failure(let error): throw classify(error, service: service, seconds: seconds)
        }
    }

    /// What a transport failure means: never sent (safe to resend), or sent with unknown effect.
    static func classify(_ error: any Error, service: Service, seconds: Double) -> ConnectorError {
        if let error = error as? HTTPClientError {
            let timeouts: [HTTPClientError] = [.deadlineExceeded, .readTimeout, .writeTimeout, .cancelled]
            let notSent: [HTTPClientError] = [.connectTimeout, .getConnectionFromPoolTimeout, .tlsHandshakeTimeout]
            let badURL: [HTTPClientError] = [.invalidURL, .emptyHost, .emptyScheme]
            if timeouts.contains(error) { return .timedOut(service: service, seconds: seconds) }
            if notSent.contains(error) { return .unreachable(service: service, reason: "\(error)") }
            if badURL.contains(error) {
                return .notConfigured(service: service, setting: "a valid \(service.rawValue).url (\(error))")
            }
            return .connectionLost(service: service, reason: "\(error)")
        }
        if error is NIOConnectionError { return .unreachable(service: service, reason: "\(error)") }
        if let channel = error as? ChannelError, case .connectTimeout = channel {
            return .unreachable(service: service, reason: "connect timeout")
        }
        if let io = error as? IOError, [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH].contains(io.errnoCode) {
            return .unreachable(service: service, reason: "\(io)")
        }
        if error is NIOTooManyBytesError {
            return .unexpectedResponse(service: service, status: 0, reason: "answer larger than \(maxBodyBytes) bytes")
        }
        if error is CancellationError { return .timedOut(service: service, seconds: seconds) }
        return .connectionLost(service: service, reason: "\(error)")
    }
}

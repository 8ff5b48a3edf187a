import Foundation
import HTTPTypes
import Hummingbird

/// JSON answers and request bodies.
enum Answer {
    static func json(_ body: SandboxJSON, status: Int = 200, headers: [String: String] = [:]) -> Response {
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        for (name, value) in headers {
            if let name = HTTPField.Name(name) { fields[name] = value }
        }
        return Response(status: HTTPResponse.Status(code: status), headers: fields,
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: body.data)))
    }

    static func failure(_ failure: ServiceFailure) -> Response {
        json(failure.body, status: failure.status, headers: failure.headers)
    }

    /// What a proxy or gateway in front of the service answers: `status` with a plain text body,
    /// none of the service's own error object.
    static func proxyFailure(status: Int, retryAfter: Int?) -> Response {
        var fields = HTTPFields()
        fields[.contentType] = "text/plain"
        if let retryAfter { fields[.retryAfter] = "\(retryAfter)" }
        return Response(status: .init(code: status), headers: fields,
                        body: ResponseBody(byteBuffer: ByteBuffer(string: "\(status) sandbox: scripted answer of a proxy\n")))
    }

    /// A success whose body was cut off: `200` with JSON that does not parse.
    static func garbled() -> Response {
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        return Response(status: .ok, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"id": "tr_"#)))
    }

    /// The request's body, at most 1 MiB.
    static func body(_ request: Request, _ service: SandboxService) async throws(ServiceFailure) -> Data {
        do {
            let buffer = try await request.body.collect(upTo: 1 << 20)
            return Data(buffer.readableBytesView)
        } catch {
            throw ServiceFailure.shaped(service, status: 413, message: "the request body is larger than 1 MiB")
        }
    }

    /// The body as a JSON object, or the service's 400.
    static func jsonObject(_ request: Request, _ service: SandboxService) async throws(ServiceFailure) -> [String: SandboxJSON] {
        let data = try await body(request, service)
        guard let object = SandboxJSON.parse(data)?.object else {
            throw ServiceFailure.badRequest(service, "the body must be a JSON object")
        }
        return object
    }

    /// A header's value (case-insensitive name).
    static func header(_ request: Request, _ name: String) -> String? {
        guard let name = HTTPField.Name(name) else { return nil }
        return request.headers[name]
    }

    /// A path parameter, percent-decoded.
    static func parameter(_ context: BasicRequestContext, _ name: String) -> String {
        let raw = context.parameters.get(name) ?? ""
        return raw.removingPercentEncoding ?? raw
    }

    /// Every query item in order, percent-decoded, repeated names included (`id[]=a&id[]=b`).
    static func queryItems(_ request: Request) -> [(name: String, value: String)] {
        (URLComponents(string: "http://sandbox\(request.uri.description)")?.queryItems ?? []).map { ($0.name, $0.value ?? "") }
    }

    /// Query parameters by name, percent-decoded (`where[slug][equals]` → value); the last of a
    /// repeated name.
    static func query(_ request: Request) -> [String: String] {
        Dictionary(queryItems(request), uniquingKeysWith: { _, last in last })
    }
}

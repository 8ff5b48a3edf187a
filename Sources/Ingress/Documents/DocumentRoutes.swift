import Hummingbird

/// The API's description and the operator's page, both compiled into the binary:
/// `GET /openapi.yaml` (Resources/openapi.yaml) and `GET /dashboard` (Resources/dashboard.html;
/// `GET /` redirects there). The dashboard asks the operator for the ops token and polls
/// `/v1/status` with it; the page itself holds no secret.
struct DocumentRoutes: Sendable {
    static let openAPI = ByteBuffer(bytes: PackageResources.openapi_yaml)
    static let dashboard = ByteBuffer(bytes: PackageResources.dashboard_html)

    func register(on router: Router<IngressContext>) {
        router.get("/openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: Self.openAPI))
        }
        router.get("/dashboard") { _, _ in
            Response(status: .ok,
                     headers: [.contentType: "text/html; charset=utf-8",
                               .contentSecurityPolicy: "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'"],
                     body: .init(byteBuffer: Self.dashboard))
        }
        router.get("/") { _, _ in
            Response(status: .seeOther, headers: [.location: "/dashboard"])
        }
    }
}

import Hummingbird
import KontorCore
import KontorStore

// What handlers return as it is: encoded by the context's response encoder (KontorJSON).
extension Person: ResponseEncodable {}
extension ArchiveRecord: ResponseEncodable {}
extension PseudonymisedPerson: ResponseEncodable {}
extension PersonDetail: ResponseEncodable {}
extension Device: ResponseEncodable {}
extension APIToken: ResponseEncodable {}
extension EnrollmentToken: ResponseEncodable {}
extension CommandRecord: ResponseEncodable {}
extension ProfileRevision: ResponseEncodable {}
extension ProfileAssignment: ResponseEncodable {}
extension AuditVerification: ResponseEncodable {}
extension Settings: ResponseEncodable {}
extension SignedCheckpoint: ResponseEncodable {}
extension PolicyService.ApplyResult: ResponseEncodable {}
extension EnrollmentService.CreatedToken: ResponseEncodable {}
extension OnCallAnswer: ResponseEncodable {}
extension UsageTerms: ResponseEncodable {}
extension PersonImportPlan: ResponseEncodable {}
extension TermsReport: ResponseEncodable {}

public enum ProductDecider {
    public static func register(name: String, price: Int64, stock: Int64, nextId: Int64, rules: CommerceRules) throws -> [CommerceEvent] {
        try Validate.name(name, "name", max: rules.maxNameLength)
        guard (1...rules.maxPrice).contains(price) else { throw CommerceError.invalid("price must be between 1 and \(rules.maxPrice) won") }
        guard (0...rules.maxStock).contains(stock) else { throw CommerceError.invalid("stock must be between 0 and \(rules.maxStock)") }
        return [.productRegistered(ProductRegistered(productId: nextId, name: name, price: price, stock: stock))]
    }

    public static func restock(productId: Int64, quantity: Int64, product: ProductRecord?, rules: CommerceRules) throws -> [CommerceEvent] {
        try Validate.id(productId, "productId")
        guard (1...rules.maxStock).contains(quantity) else { throw CommerceError.invalid("quantity must be between 1 and \(rules.maxStock)") }
        guard let product else { throw CommerceError(.productNotFound, "product \(productId) does not exist") }
        guard product.stock + quantity <= rules.maxStock else {
            throw CommerceError(.stockLimitExceeded, "stock \(product.stock) + \(quantity) would exceed \(rules.maxStock)")
        }
        return [.productRestocked(ProductRestocked(StockChange(productId: productId, quantity: quantity, stockAfter: product.stock + quantity, orderId: nil)))]
    }
}

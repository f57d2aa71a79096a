/**
 * Fixed addresses of the MedRec system contracts: "MedRec" in ASCII, then an index. Far from
 * the precompiles (0x01..0x11) and unreachable by CREATE/CREATE2 (keccak outputs).
 */
export const AUTHORITY_SET_ADDRESS = '0x4d65645265630000000000000000000000000001' as const
export const REGISTRAR_ADDRESS = '0x4d65645265630000000000000000000000000002' as const
export const RELATIONSHIPS_ADDRESS = '0x4d65645265630000000000000000000000000003' as const
/** The implementations every relationship (PPR) and every Summary is an EIP-1167 clone of. */
export const PPR_IMPLEMENTATION_ADDRESS = '0x4d65645265630000000000000000000000000004' as const
export const SUMMARY_IMPLEMENTATION_ADDRESS = '0x4d65645265630000000000000000000000000005' as const

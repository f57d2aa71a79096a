// SPDX-License-Identifier: MIT
pragma solidity =0.8.37;

/// @title The MedRec system contracts' fixed addresses and the interfaces they use of each other.
/// @notice Addresses are "MedRec" in ASCII followed by an index (contracts/addresses.ts): far from
/// the precompiles and unreachable by CREATE/CREATE2.
library MedRecSystem {
    address internal constant AUTHORITY_SET = 0x4D65645265630000000000000000000000000001;
    address internal constant REGISTRAR = 0x4D65645265630000000000000000000000000002;
    address internal constant RELATIONSHIPS = 0x4d65645265630000000000000000000000000003;
    /// The implementations relationship and Summary clones forward to: predeployed runtime code
    /// with no constructor, no owner and no initialiser.
    address internal constant PPR_IMPLEMENTATION = 0x4D65645265630000000000000000000000000004;
    address internal constant SUMMARY_IMPLEMENTATION = 0x4D65645265630000000000000000000000000005;
}

/// @notice Status of a relationship in a participant's Summary.
enum Status {
    None,
    AwaitingApproval,
    UpdatePending,
    Accepted,
    Rejected,
    Deleted
}

/// @notice Why a relationship is in a Summary: its owner is the relationship's patient, or a
/// viewer the patient granted a subset to.
enum Role {
    Patient,
    Viewer
}

interface IAuthoritySet {
    function isAuthority(address who) external view returns (bool);
}

interface IRegistrar {
    function summaryOf(address participant) external view returns (address);
    function isProviderAccount(address who) external view returns (bool);
}

interface ISummary {
    function owner() external view returns (address);
    function addRelationship(Role role, address by) external returns (bool);
    function relationshipUpdated(address by) external returns (bool);
    function relationshipTerminated(address by) external;
}

interface IRelationships {
    function recordBounty(uint256 pointerId, string calldata query) external returns (uint256);
}

/// @notice Bounds of a page over a list of `n` items: [start, end). A huge `limit` cannot
/// overflow (it is compared with the remaining count), and an offset past the end is empty.
library Paging {
    function bounds(uint256 n, uint256 offset, uint256 limit) internal pure returns (uint256 start, uint256 end) {
        if (offset >= n) return (n, n);
        return (offset, limit > n - offset ? n : offset + limit);
    }

    function slice(address[] storage list, uint256 offset, uint256 limit) internal view returns (address[] memory out) {
        (uint256 start, uint256 end) = bounds(list.length, offset, limit);
        out = new address[](end - start);
        for (uint256 i = start; i < end; i++) out[i - start] = list[i];
    }
}

/// @notice EIP-1167 minimal proxies whose code carries immutable arguments after the 45-byte
/// proxy (never executed: the proxy returns or reverts before them). The implementation reads
/// them with EXTCODECOPY on address(), which under DELEGATECALL is the clone. Data fixed at
/// creation lives in code (200 gas a byte, no initialiser at all); data that changes lives in
/// the clone's storage. A clone is deployed with CREATE2 and salt keccak256(args), so whether an
/// address is a clone a given deployer made is a computation on its code (`isCloneBy`), not a
/// registry lookup: only the deployer can have put that code at that address.
library CloneArgs {
    error CloneFailed();

    uint256 internal constant PROXY_SIZE = 45;

    function initCode(address implementation, bytes memory args) internal pure returns (bytes memory) {
        // PUSH2 n DUP1 PUSH1 10 RETURNDATASIZE CODECOPY RETURNDATASIZE RETURN: returns the n bytes after these 10
        return abi.encodePacked(hex"61", uint16(PROXY_SIZE + args.length), hex"80600a3d393df3", hex"363d3d373d3d3d363d73", implementation, hex"5af43d82803e903d91602b57fd5bf3", args);
    }

    /// @notice Deploys a clone of `implementation` carrying `args`; reverts if that exact clone exists.
    function create(address implementation, bytes memory args) internal returns (address clone) {
        bytes memory code = initCode(implementation, args);
        bytes32 salt = keccak256(args);
        assembly {
            clone := create2(0, add(code, 32), mload(code), salt)
        }
        if (clone == address(0)) revert CloneFailed();
    }

    function predict(address implementation, bytes memory args, address deployer) internal pure returns (address) {
        return address(uint160(uint256(keccak256(abi.encodePacked(bytes1(0xff), deployer, keccak256(args), keccak256(initCode(implementation, args)))))));
    }

    /// @notice Whether `who` holds code that `deployer` put there with `create` (any implementation
    /// the deployer clones; a deployer that clones one implementation gives a check for exactly it).
    function isCloneBy(address who, address deployer) internal view returns (bool) {
        uint256 size = who.code.length;
        if (size <= PROXY_SIZE || size > 0xffff) return false;
        bytes memory init = new bytes(size + 10);
        bytes32 salt;
        bytes32 initHash;
        assembly {
            let p := add(init, 32)
            // the 10-byte init prefix with the code's length, then the code itself
            mstore(p, or(shl(248, 0x61), or(shl(232, size), shl(176, 0x80600a3d393df3))))
            extcodecopy(who, add(p, 10), 0, size)
            salt := keccak256(add(p, add(10, PROXY_SIZE)), sub(size, PROXY_SIZE))
            initHash := keccak256(p, add(size, 10))
        }
        return address(uint160(uint256(keccak256(abi.encodePacked(bytes1(0xff), deployer, salt, initHash))))) == who;
    }

    function argAddress(uint256 offset) internal view returns (address) {
        return argAddressOf(address(this), offset);
    }

    function argAddressOf(address who, uint256 offset) internal view returns (address a) {
        assembly {
            mstore(0, 0)
            extcodecopy(who, 12, add(PROXY_SIZE, offset), 20)
            a := mload(0)
        }
    }

    /// The argument bytes from `offset` to the end of the code.
    function argTail(uint256 offset) internal view returns (bytes memory out) {
        uint256 size;
        assembly {
            size := extcodesize(address())
        }
        uint256 start = PROXY_SIZE + offset;
        out = new bytes(size > start ? size - start : 0);
        assembly {
            extcodecopy(address(), add(out, 32), start, mload(out))
        }
    }
}

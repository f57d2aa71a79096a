// SPDX-License-Identifier: MIT
pragma solidity =0.8.37;

import {Role} from "../MedRecSystem.sol";

/// @title Prototype (issue 23): the system addresses of the cheap-operations designs.
/// @notice The live three keep their addresses; the two implementations that clones forward to
/// are predeployed beside them as runtime code (no constructor, no owner, no initialiser).
library NextSystem {
    address internal constant AUTHORITY_SET = 0x4D65645265630000000000000000000000000001;
    address internal constant REGISTRAR = 0x4D65645265630000000000000000000000000002;
    address internal constant RELATIONSHIPS = 0x4d65645265630000000000000000000000000003;
    address internal constant PPR_IMPLEMENTATION = 0x4D65645265630000000000000000000000000004;
    address internal constant SUMMARY_IMPLEMENTATION = 0x4D65645265630000000000000000000000000005;
}

interface INextRegistrar {
    function summaryOf(address participant) external view returns (address);
    function isProviderAccount(address who) external view returns (bool);
}

interface INextSummary {
    function owner() external view returns (address);
}

/// Design A: a clone links itself (msg.sender is the relationship).
interface ICloneSummary {
    function addRelationship(Role role, address by) external returns (bool);
    function relationshipUpdated(address by) external returns (bool);
    function relationshipTerminated(address by) external;
}

/// Design B: the one records contract links a relationship id.
interface IRecordSummary {
    function addRelationship(address relationship, Role role, bool isPatientSide, address by) external returns (bool);
    function relationshipUpdated(address relationship, address by) external returns (bool);
    function relationshipTerminated(address relationship, address by) external;
}

interface ICloneFactory {
    function isRelationship(address relationship) external view returns (bool);
    /// Design A0 only (its factory keeps a registry).
    function createdAt(address relationship) external view returns (uint256);
    function recordBounty(uint256 pointerId, string calldata query) external returns (uint256);
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

    /// @notice A clone with a salt of the caller's choosing (design A0: plain clones, parties in storage).
    function createWithSalt(address implementation, bytes memory args, bytes32 salt) internal returns (address clone) {
        bytes memory code = initCode(implementation, args);
        assembly {
            clone := create2(0, add(code, 32), mload(code), salt)
        }
        if (clone == address(0)) revert CloneFailed();
    }

    function predictWithSalt(address implementation, bytes memory args, bytes32 salt, address deployer) internal pure returns (address) {
        return address(uint160(uint256(keccak256(abi.encodePacked(bytes1(0xff), deployer, salt, keccak256(initCode(implementation, args)))))));
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

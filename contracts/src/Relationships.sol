// SPDX-License-Identifier: MIT
pragma solidity =0.8.37;

import {MedRecSystem, CloneArgs, IRegistrar} from "./MedRecSystem.sol";

/// @title Relationships: the factory of Patient-Provider Relationships and the bounty ledger.
/// @notice A system contract at a fixed address. Only provider accounts (authorities, or
/// per-relationship delegates an authority verified in the Registrar) create relationships,
/// and only with registered patients. A relationship is an EIP-1167 clone of the one PPR
/// implementation (PatientProviderRelationship.sol); creating one writes no storage here: "made
/// by this factory" is a computation on the clone's code (`isRelationship`), and the list of
/// relationships is the RelationshipCreated events. Each provider update of a relationship
/// records a bounty owned by `block.coinbase`, the author of the block that includes it (the
/// sealer under PoA, the miner under PoW): a BountyCreated event and a per-owner count.
contract Relationships {
    mapping(address => uint256) public bountyCount;

    event RelationshipCreated(address indexed patient, address indexed provider, address relationship);
    event BountyCreated(address indexed owner, address indexed relationship, uint256 indexed pointerId, uint256 index, string query);

    error NotProviderAccount(address caller);
    error PatientNotRegistered(address patient);
    error SelfRelationship(address patient);
    error NotRelationship(address caller);

    /// @notice Creates a relationship in which the caller stewards `patient`'s records: a clone
    /// of the PPR implementation whose code fixes the caller as provider, the patient's Summary,
    /// `salt` and `endpoint`. Its address (CREATE2) depends only on those, so a provider can
    /// address follow-up transactions to it before it exists, and they can never land on another
    /// patient's relationship. Reusing a salt for the same provider, patient and endpoint reverts.
    function create(address patient, string calldata endpoint, bytes32 salt) external returns (address relationship) {
        IRegistrar registrar = IRegistrar(MedRecSystem.REGISTRAR);
        if (!registrar.isProviderAccount(msg.sender)) revert NotProviderAccount(msg.sender);
        if (patient == msg.sender) revert SelfRelationship(patient);
        address summary = registrar.summaryOf(patient);
        if (summary == address(0)) revert PatientNotRegistered(patient);
        relationship = CloneArgs.create(MedRecSystem.PPR_IMPLEMENTATION, abi.encodePacked(msg.sender, summary, salt, endpoint));
        emit RelationshipCreated(patient, msg.sender, relationship);
    }

    /// @notice Called by a relationship for each provider update; the bounty goes to the block's
    /// author. Its query is in the event (`index` counts the owner's bounties from 0).
    function recordBounty(uint256 pointerId, string calldata query) external returns (uint256 index) {
        if (!CloneArgs.isCloneBy(msg.sender, address(this))) revert NotRelationship(msg.sender);
        index = bountyCount[block.coinbase]++;
        emit BountyCreated(block.coinbase, msg.sender, pointerId, index, query);
    }

    /// @notice Whether this factory put `relationship`'s code there (recomputed from the code).
    function isRelationship(address relationship) external view returns (bool) {
        return CloneArgs.isCloneBy(relationship, address(this));
    }

    /// @notice The address `create(patient, endpoint, salt)` called by `provider` gives.
    function predictAddress(address provider, address patient, string calldata endpoint, bytes32 salt) external view returns (address) {
        address summary = IRegistrar(MedRecSystem.REGISTRAR).summaryOf(patient);
        if (summary == address(0)) revert PatientNotRegistered(patient);
        return CloneArgs.predict(MedRecSystem.PPR_IMPLEMENTATION, abi.encodePacked(provider, summary, salt, endpoint), address(this));
    }
}
